// Grammars in generation: the vocabulary a grammar sees, and `llamux run` / `llamux chat`
// with --grammar, --grammar-file and -j against llama.cpp's main on the same file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "llamux/grammar_sampling.hpp"
#include "llamux/model.hpp"
#include "llamux/tokenizer.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {


TEST(GrammarVocabulary, ControlTokensNeverAndEndOnlyWhereComplete) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const auto model = Model::load(path.string());
    const Tokenizer& tok = model->tokenizer();
    const auto vocab = grammar_vocab(tok);
    const auto grammar = parse_grammar("root ::= [a-z ]* \"!\"?", "test");
    GrammarState state(grammar);
    std::vector<uint8_t> allowed;
    vocab->allowed(state, allowed);
    EXPECT_EQ(allowed[size_t(tok.bos())], 0) << "control tokens append no text a grammar could match";
    EXPECT_EQ(allowed[size_t(tok.eos())], 1) << "the empty text is a sentence here";
    const int32_t the = tok.encode("the", false).at(0);  // "▁the": " the"
    EXPECT_EQ(allowed[size_t(the)], 1);
    state.advance(" the!");
    EXPECT_FALSE(vocab->allows(state, the));
    EXPECT_TRUE(vocab->allows(state, tok.eos()));
    // A chat format's end-of-turn token ends the text as end of text does.
    const auto with_turn_end = grammar_vocab(tok, {tok.bos()});
    EXPECT_TRUE(with_turn_end->allows(state, tok.bos()));
}

struct GrammarCli : ::testing::Test {
    void SetUp() override {
        LLAMUX_FIXTURE(path, "models/stories260K.gguf");
        model = path.string();
    }
    std::vector<std::string> base() const {
        return {"run", "-m", model, "-p", "Once upon a time", "-n", "60", "-t", "1", "-c", "256"};
    }
    std::string model;
};

// Texts of llama.cpp c392e50's main (`llama-cli -no-cnv -n 60 -t 1 -c 256 --grammar G
// <flags>`): greedy, and seeded draws whose first choice the grammar often refuses, so the
// second draw (with the refused tokens removed) must match llama.cpp's too. Each text ends
// where the grammar does, well before 60 tokens.
TEST_F(GrammarCli, RunFollowsTheGrammarAsLlamaCppMain) {
    const std::string sentence = R"(root ::= " " [A-Z] [a-z]+ (" " [a-z]+){3,6} ".")";
    const std::string answer = R"(root ::= (" yes" | " no") "!")";
    const std::string record = "root ::= \" {\" ws \"\\\"name\\\":\" ws \"\\\"\" [a-zA-Z ]{1,12} \"\\\",\" ws "
                               "\"\\\"age\\\":\" ws [0-9]{1,3} ws \"}\"\nws ::= \" \"?";
    const std::string start = "Once upon a time";
    test::expect_outputs(base(), {
        {{"--temp", "0", "--grammar", sentence}, start + " Anna and her mommy went to theirthday."},
        {{"-s", "42", "--grammar", sentence}, start + " Lucy and her mommy went to them."},
        {{"-s", "7", "--temp", "1.2", "--grammar", sentence}, start + " Allie was very hungry."},
        {{"--temp", "0", "--grammar", answer}, start + " yes!"},
        {{"-s", "7", "--temp", "1.2", "--grammar", answer}, start + " yes!"},
        {{"--temp", "0", "--grammar", record}, start + R"( { "name": "It is a smar", "age": 300 })"},
        {{"-s", "42", "--grammar", record}, start + R"( { "name":" said Samasy", "age": 300 })"},
        {{"-s", "7", "--temp", "1.2", "--grammar", record}, start + R"( { "name":" said the sh", "age": 300 })"},
    });
}

TEST_F(GrammarCli, GrammarFromAFile) {
    test::TempDir dir;
    const auto file = dir.path() / "answer.gbnf";
    std::ofstream(file) << "# a yes/no answer\nroot ::= \" \" answer \".\"\nanswer ::= \"yes\" | \"no\"\n";
    std::vector<std::string> args = base();
    args.insert(args.end(), {"--temp", "0", "--grammar-file", file.string()});
    const auto r = test::run_llamux(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, ::testing::AnyOf(std::string("Once upon a time yes."), std::string("Once upon a time no.")));
}

// -j: llama.cpp's main with the same schemas (`llama-cli ... -n 80 -j SCHEMA`) prints these
// texts; the grammars are made differently but allow the same whitespace and layouts here.
TEST_F(GrammarCli, JsonSchemaAsLlamaCppMain) {
    const std::string flag = R"({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})";
    const std::string person = R"({"type":"object","properties":{"name":{"type":"string","maxLength":10},)"
                               R"("age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"]})";
    const std::string colours = R"({"type":"array","items":{"type":"string","enum":["red","green","blue"]},)"
                                R"("minItems":2,"maxItems":4})";
    const std::string start = "Once upon a time";
    test::expect_outputs(base(), {
        {{"--temp", "0", "-j", flag}, start + R"({ "ok" : false } )"},
        {{"--temp", "0", "-j", person}, start + R"({ "name" : "I can help" , "age" : 30 } )"},
        {{"-s", "42", "-j", person}, start + "{ \"name\" : \"Here to go\", \"age\" :\n  30 } "},
        {{"-s", "42", "-j", colours}, start + R"([ "blue" , "green" , "blue" , "blue" ] )"},
    });
}

TEST_F(GrammarCli, BadGrammarsAreErrorsThatNameThem) {
    test::TempDir dir;
    const std::string missing = (dir.path() / "missing.gbnf").string();
    test::expect_flag_errors(base(), {
        {{"--grammar", "root ::= \"a\" | b"}, "--grammar:1:"},
        {{"--grammar", "root ::= \"a\" | b"}, "'b'"},
        {{"--grammar", "answer ::= \"a\""}, "root"},
        {{"--grammar-file", missing}, missing},
        {{"-j", "{\"type\": \"strange\"}"}, "-j"},
        {{"--grammar", "root ::= \"a\"", "-j", "{}"}, "expected at most one"},
        // The grammar then allows only end of text, which --ignore-eos bans.
        {{"--grammar", "root ::= \" yes\"", "--ignore-eos", "-s", "1"}, "no token left to draw"},
        {{"--grammar", "root ::= \" yes\"", "--ignore-eos", "--temp", "0"}, "no token left to draw"},
    });
}

TEST_F(GrammarCli, EachChatAnswerFollowsTheGrammarAfresh) {
    test::TempDir dir;
    const auto input = dir.path() / "in.txt";
    std::ofstream(input) << "Is the sun hot?\nIs snow hot?\n";
    const auto r = test::run_command({"/bin/sh", "-c", "'" + test::llamux_exe().string() + "' chat -m '" + model +
                                                           "' --temp 0 --grammar 'root ::= \" \" (\"yes\" | \"no\") \"!\"' < '" +
                                                           input.string() + "'"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, ::testing::MatchesRegex("(yes|no)!\n(yes|no)!\n"));
}

}  // namespace
}  // namespace llamux
