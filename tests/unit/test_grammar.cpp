// GBNF grammars: parser errors (source:line:col), acceptance and rejection of texts
// (literals, classes, repetitions, groups, `.`, UTF-8 split across tokens), complete(),
// the vocabulary filter against a brute-force per-token check (synthetic vocabulary,
// stories260K, the 32000-token Llama vocabulary), and the JSON grammar.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/grammar.hpp"
#include "llamux/tokenizer.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Grammar> grammar(std::string_view text) {
    return parse_grammar(text, "test.gbnf");
}

// The whole text is a sentence of the grammar.
bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
    GrammarState s(g);
    if (!s.accepts(text)) return false;
    s.advance(text);
    return s.complete();
}

// Some sentence of the grammar starts with the text.
bool prefix(const std::shared_ptr<const Grammar>& g, std::string_view text) {
    return GrammarState(g).accepts(text);
}

// The message of the Error that parsing throws ("" when it parses).
std::string parse_error(std::string_view text, std::string_view root = "root") {
    try {
        parse_grammar(text, "g.gbnf", root);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// ---- parser errors --------------------------------------------------------------------

struct ErrorCase {
    std::string name, gbnf;
    std::vector<std::string> expected;  // parts of the message; none: the text parses
    std::string root = "root";
};

class GrammarParserError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(GrammarParserError, NamesSourceLineColumnAndProblem) {
    const ErrorCase& c = GetParam();
    const std::string message = parse_error(c.gbnf, c.root);
    if (c.expected.empty()) {
        EXPECT_EQ(message, "");
    }
    for (const auto& part : c.expected) EXPECT_THAT(message, HasSubstr(part));
}

const ErrorCase kErrors[] = {
    {"UndefinedRule", "root ::= \"a\" item\n", {"g.gbnf:1:14: undefined rule 'item'"}},
    {"UndefinedRuleInGroup", "root ::= a\na ::= \"x\" (b | \"y\")\n", {"g.gbnf:2:12: undefined rule 'b'"}},
    {"UndefinedAfterBarNewline", "root ::= \"a\" |\nx", {"g.gbnf:2:1: undefined rule 'x'"}},
    {"MissingRoot", "expr ::= \"a\"\n", {"g.gbnf:1:1: no rule named 'root'"}},
    {"MissingOtherStart", "expr ::= \"a\"\n", {"no rule named 'start'"}, "start"},
    {"OtherStart", "expr ::= \"a\"\n", {}, "expr"},
    {"LeftRecursion", "root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]\n",
     {"g.gbnf:2:1: left recursion in rule 'expr'"}},
    // Indirect, through rules that may match nothing.
    {"LeftRecursionThroughEmpty", "root ::= a\na ::= b c? a \"x\" | \"y\"\nb ::= \"\"\nc ::= \"z\"\n",
     {"g.gbnf:2:1: left recursion in rule 'a'"}},
    {"LeftRecursionCycle", "root ::= a\na ::= b \"x\"\nb ::= c | \"y\"\nc ::= a\n", {"a -> b -> c -> a"}},
    {"LeftRecursionThroughRepetition", "root ::= (\"a\"?)* \"b\"\n", {"left recursion in rule 'root'"}},
    {"RightRecursionIsFine", "root ::= \"a\" root | \"b\"\n", {}},
    {"UnterminatedLiteral", "root ::= \"abc\n", {"g.gbnf:1:10: unterminated string literal"}},
    {"UnterminatedClass", "root ::= x\nx ::= [a-z", {"g.gbnf:2:7: unterminated character class"}},
    {"UnterminatedRange", "root ::= [a-", {"g.gbnf:1:10: unterminated character class"}},
    {"UnknownEscape", "root ::= \"a\\qb\"\n", {"g.gbnf:1:12: unknown escape", "found '\\q'"}},
    {"ShortHexEscape", "root ::= [\\x4g]\n", {"g.gbnf:1:13: expected 2 hex digits"}},
    {"ShortUnicodeEscape", "root ::= \"\\u12\"\n", {"expected 4 hex digits"}},
    {"EmptyGrammar", "  # nothing but a comment\n\n", {"g.gbnf:3:1: empty grammar"}},
    {"MissingDefinition", "root = \"a\"\n", {"g.gbnf:1:6: expected '::='"}},
    {"UnclosedGroup", "root ::= (\"a\" | \"b\"\n", {"g.gbnf:2:1: expected ')'"}},
    {"TrailingJunk", "root ::= \"a\" )\n", {"g.gbnf:1:14: expected a newline"}},
    {"RepetitionWithoutItem", "root ::= * \"a\"\n", {"g.gbnf:1:10: expected an item before '*'"}},
    {"ReversedRepetition", "root ::= \"a\"{3,1}\n", {"g.gbnf:1:13: repetition {3,1}"}},
    {"RepetitionWithoutNumber", "root ::= \"a\"{x}\n", {"expected a number or ','"}},
    {"RepetitionCountTooLarge", "root ::= \"a\"{100001}\n", {"g.gbnf:1:14: repetition count above"}},
    {"RepetitionTooLarge", "root ::= \"abcd\"{2000}{2000}\n", {"repetition too large"}},
    {"DefinedTwice", "root ::= \"a\"\nroot ::= \"b\"\n", {"g.gbnf:2:1: rule 'root' is defined twice"}},
    {"EmptyClass", "root ::= []\n", {"g.gbnf:1:10: empty character class"}},
    {"ReversedRange", "root ::= [z-a]\n", {"g.gbnf:1:11: empty character range"}},
    // Columns count characters, not bytes.
    {"ColumnsInCharacters", "root ::= \"é\" x\n", {"g.gbnf:1:14: undefined rule 'x'"}},
};

INSTANTIATE_TEST_SUITE_P(Grammars, GrammarParserError, ::testing::ValuesIn(kErrors),
                         [](const ::testing::TestParamInfo<ErrorCase>& p) { return p.param.name; });

TEST(GrammarParser, NullGrammarIsRefused) { EXPECT_THROW(GrammarState(nullptr), Error); }

// Hostile grammars get errors, not a stack overflow or hours of work: deep nesting and
// long chains of leftmost references are refused when parsed; thousands of optional items
// in a row, or parses that multiply, when the text reaches them.
TEST(GrammarParser, HostileGrammarsAreErrors) {
    auto parse_error = [](const std::string& text) {
        try {
            parse_grammar(text, "g");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_THAT(parse_error("root ::= " + std::string(5000, '(') + "\"a\"" + std::string(5000, ')')),
                HasSubstr("groups nested more than 256 deep"));
    std::string chain = "root ::= r0\n";
    for (int i = 0; i < 1500; ++i) chain += "r" + std::to_string(i) + " ::= r" + std::to_string(i + 1) + "\n";
    chain += "r1500 ::= \"a\"\n";
    EXPECT_THAT(parse_error(chain), HasSubstr("starts with a chain of more than 1000 rule references"));

    try {
        GrammarState s(parse_grammar("root ::= (\"a\"?){5000} \"b\"", "g"));
        ADD_FAILURE() << "5000 optional items in a row expanded";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("optional items in a row"));
    }
    EXPECT_THROW(
        {
            GrammarState s(parse_grammar("root ::= (\"a\"? \"b\"?){3000}", "g"));
            s.advance("a");
        },
        Error);
    std::string wide = "root ::= \"a\" \"0\"";
    for (int i = 1; i < 12000; ++i) wide += " | \"a\" \"" + std::to_string(i) + "\"";
    try {
        GrammarState s(parse_grammar(wide, "g"));  // 12000 parses from the start
        ADD_FAILURE() << "12000 parses kept";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("more than 10000 parses alive at once"));
    }
    // A modest version of the same works.
    GrammarState fine(parse_grammar("root ::= (\"a\"? \"b\"?){30} \"c\"", "g"));
    fine.advance("abbac");
    EXPECT_TRUE(fine.complete());
}

// ---- matching ---------------------------------------------------------------------------

// A grammar and texts: whole sentences, live prefixes that are not sentences, and texts
// that no sentence starts with.
struct LanguageCase {
    std::string name, gbnf;
    std::vector<std::string> sentences, prefixes, dead;
};

class GrammarLanguage : public ::testing::TestWithParam<LanguageCase> {};

TEST_P(GrammarLanguage, AcceptsItsSentencesOnly) {
    const LanguageCase& c = GetParam();
    const auto g = grammar(c.gbnf);
    for (const auto& text : c.sentences) EXPECT_TRUE(matches(g, text)) << "sentence: " << text;
    for (const auto& text : c.prefixes) {
        EXPECT_TRUE(prefix(g, text)) << "prefix: " << text;
        EXPECT_FALSE(matches(g, text)) << "prefix, not a sentence: " << text;
    }
    for (const auto& text : c.dead) EXPECT_FALSE(prefix(g, text)) << "dead: " << text;
}

const LanguageCase kLanguages[] = {
    {"Literals", "root ::= \"hello\" \" \" \"w\\x6Frld\" # a comment\n",
     {"hello world"}, {"", "hell"}, {"help", "hello world!"}},
    {"ClassesAndNegation", "root ::= [a-c0-9_] [^a-z\\]] [\\]\\[-]\n",
     {"bA]", "_9[", "0é-"},  // a negated class admits multi-byte characters
     {"b", "bA"}, {"d", "aq", "a]", "aAx"}},
    {"Repetitions", "root ::= \"a\"{2,4} \"b\"{3} \"c\"{1,} \"d\"{,2} \"e\"? \"f\"* \"g\"+\n",
     {"aabbbcg", "aaaabbbcccddeffffggg"}, {"aabbbc", "aabbbcf"},
     {"ab", "aaaaa", "aabbbb", "aabbbcddd", "aabbbcdee"}},
    // A literal repeats whole; repetitions stack as in llama.cpp.
    {"LiteralRepetitions", "root ::= (\"ab\"{2}) \"x\"+ \"y\"\n",
     {"ababxy", "ababxxxy"}, {"ababx"}, {"aab", "ababy"}},
    {"NestedGroupsAndEmptyAlternatives",
     "root ::= ( \"x\" ( \"y\" | \"z\" )+ \",\" )* end\nend  ::= \"!\" ( \"?\" | ) ( | \"!\" )\n",
     {"!", "xy,xzzy,!?!", "xy,!!"}, {"xy", "xzy,"}, {"x,", "!!?"}},
    {"NewlinesInsideParentheses", "root ::= item (\n    \",\" item\n  )*\nitem ::= [0-9]\n",
     {"1", "1,2,3"}, {"1,"}, {",", "1,,"}},
    {"AnyCharacterAndUtf8", "root ::= . . \"!\"\n",
     {"ab!", "é€!", "\xF0\x9F\x98\x80x!"},  // 😀
     {"\xC3", "a\xF0\x9F\x98"},             // inside a character
     {"abc",
      "\x80",          // a stray continuation byte
      "\xC0\x80",      // overlong NUL
      "\xED\xA0\x80",  // a surrogate
      "\xF4\x90",      // above U+10FFFF
      "a\xC3" "b",     // a lead byte without its continuation
      std::string("\0", 1)}},
    {"PartialCharacters", "root ::= \"é\" [α-ω]+\n",
     {"éα", "éωα"}, {"\xC3", "\xC3\xA9\xCE"},  // α..ω start with CE or CF
     {"\xC3\xA9\xD0", "\xC4", "\xC3" "a"}},     // Cyrillic does not; no é there
    {"PartialAgainstNegatedClass", "root ::= [^é]\n", {"a", "è"}, {"\xC3"}, {"é"}},
    {"PartialAgainstExcludedBlock", "root ::= [^\\u0080-\\u07FF]\n", {"€"}, {"\xE2"}, {"\xC3"}},
    {"PartialAstral", "root ::= [\\U0001F600-\\U0001F64F]\n",
     {"\xF0\x9F\x98\x80"}, {"\xF0\x9F\x99"}, {"\xF0\x9F\x99\x90", "\xF0\x9F\x9A"}},
};

INSTANTIATE_TEST_SUITE_P(Grammars, GrammarLanguage, ::testing::ValuesIn(kLanguages),
                         [](const ::testing::TestParamInfo<LanguageCase>& p) { return p.param.name; });

TEST(GrammarState, AdvanceThroughACharacterSplitAcrossTokens) {
    GrammarState s(grammar("root ::= \"é\" [α-ω]+\n"));
    s.advance("\xC3");
    EXPECT_FALSE(s.complete());
    EXPECT_FALSE(s.accepts("a"));
    s.advance("\xA9\xCE");
    EXPECT_FALSE(s.complete());
    s.advance("\xB1");  // α
    EXPECT_TRUE(s.complete());
}

TEST(GrammarState, CompleteAndAdvance) {
    const auto g = grammar("root ::= \"a\"* (\"b\" | )\n");
    GrammarState s(g);
    EXPECT_TRUE(s.complete());
    s.advance("aa");
    EXPECT_TRUE(s.complete());
    s.advance("b");
    EXPECT_TRUE(s.complete());
    EXPECT_FALSE(s.accepts("a"));
    try {
        s.advance("a\n");
        FAIL() << "advance should throw";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("\"a\\x0A\""));
    }
    EXPECT_TRUE(s.complete());  // unchanged by the refused advance
    GrammarState copy = s;
    EXPECT_TRUE(copy.accepts(""));
    EXPECT_FALSE(GrammarState(grammar("root ::= \"x\"\n")).complete());
}

// ---- the vocabulary filter ------------------------------------------------------------

// allowed() against allows() token by token (which is accepts(), or complete() for EOS).
void expect_allowed_matches_brute_force(const GrammarVocab& vocab, const GrammarState& state,
                                        const std::vector<std::string>& token_bytes,
                                        const std::string& where) {
    std::vector<uint8_t> fast;
    vocab.allowed(state, fast);
    ASSERT_EQ(fast.size(), token_bytes.size());
    size_t n_allowed = 0;
    for (size_t id = 0; id < token_bytes.size(); ++id) {
        const bool slow = vocab.allows(state, static_cast<int32_t>(id));
        ASSERT_EQ(fast[id] != 0, slow) << where << ": token " << id << " \"" << token_bytes[id] << "\"";
        n_allowed += fast[id];
    }
    EXPECT_GT(n_allowed, 0u) << where;
}

// The states along `text` (every byte, so some end inside a character) under each grammar.
void check_vocab_along(const GrammarVocab& vocab, const std::vector<std::string>& token_bytes,
                       const std::shared_ptr<const Grammar>& g, const std::string& text) {
    GrammarState state(g);
    expect_allowed_matches_brute_force(vocab, state, token_bytes, "at 0");
    for (size_t i = 0; i < text.size(); ++i) {
        state.advance(text.substr(i, 1));
        expect_allowed_matches_brute_force(vocab, state, token_bytes, "at " + std::to_string(i + 1) + " of " + text);
        if (::testing::Test::HasFatalFailure()) return;
    }
}

// Random byte strings: ASCII, whole and partial UTF-8 characters, invalid bytes, empties.
std::vector<std::string> synthetic_vocab(size_t n) {
    std::mt19937 rng(1234);
    const std::vector<std::string> pieces = {
        "{", "}", "\"", ":", ",", " ", "\n", "[", "]", "\\", "a", "b", "e", "x", "k", "-", "0", "1",
        "9", ".", "E", "+", "!", "t", "r", "u", "n", "l", "f", "s", "é", "€", "α", "ω", "😀",
        "\xC3", "\xA9", "\xE2\x82", "\xAC", "\xF0\x9F", "\x98\x80", "\xCE", "\xFF", "\x80",
        std::string("\0", 1), "\x01", "\t", "\\u", "true", "null", "ab", "ba"};
    std::vector<std::string> vocab{"", "", ""};  // like <unk>, <s>, </s>
    while (vocab.size() < n) {
        std::string t;
        const size_t len = 1 + rng() % 4;
        for (size_t i = 0; i < len; ++i) t += pieces[rng() % pieces.size()];
        vocab.push_back(t);
    }
    for (const auto& p : pieces) vocab.push_back(p);  // every piece alone as well
    return vocab;
}

struct GrammarCase {
    std::string gbnf, text;
};

std::vector<GrammarCase> vocab_cases() {
    return {
        {json_grammar(), "{\"ka\": [1.5e+9, \"é€😀\\u00e9\", true], \"b\": {}}"},
        {"root ::= (\"ab\" | \"ba\")+ \" \" [a-z]{2,3}\n", "abba abx"},
        {"root ::= \"é\" [α-ω]+ | [^\\x00-\\x7F]* \"x\"\n", "é€😀x"},
        {"root ::= . . . . \"!\"\n", "a😀\xC3\xA9x!"},
    };
}

TEST(GrammarVocab, AllowedEqualsBruteForceOnSyntheticVocabulary) {
    const auto tokens = synthetic_vocab(400);
    const GrammarVocab vocab(tokens, {2});
    for (const GrammarCase& c : vocab_cases()) {
        SCOPED_TRACE(c.gbnf);
        check_vocab_along(vocab, tokens, grammar(c.gbnf), c.text);
    }
}

TEST(GrammarVocab, EndTokensOnlyWhereComplete) {
    const GrammarVocab vocab({"a", "b", "", "ab"}, {2});
    GrammarState s(grammar("root ::= \"a\" \"b\"?\n"));
    std::vector<uint8_t> out;
    vocab.allowed(s, out);
    EXPECT_EQ(out, (std::vector<uint8_t>{1, 0, 0, 1}));
    s.advance("a");
    vocab.allowed(s, out);
    EXPECT_EQ(out, (std::vector<uint8_t>{0, 1, 1, 0}));
    EXPECT_TRUE(vocab.allows(s, 2));
    EXPECT_EQ(vocab.bytes(3), "ab");
    EXPECT_THROW(vocab.allows(s, 4), Error);
    EXPECT_THROW(vocab.bytes(-1), Error);
    EXPECT_THROW(GrammarVocab({"a"}, {1}), Error);
}

std::vector<std::string> tokenizer_bytes(const Tokenizer& tok) {
    std::vector<std::string> bytes;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) bytes.push_back(tok.token_to_bytes(id));
    return bytes;
}

TEST(GrammarVocab, AllowedEqualsBruteForceOnStories260K) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(path.string()));
    const auto tokens = tokenizer_bytes(tok);
    const GrammarVocab vocab(tokens, {tok.eos()});
    for (const GrammarCase& c : vocab_cases()) {
        SCOPED_TRACE(c.gbnf);
        check_vocab_along(vocab, tokens, grammar(c.gbnf), c.text);
    }
}

// The 32000-token Llama vocabulary: equality at a few JSON states, and the time of
// allowed() in the middle of a string (the common case while generating JSON).
TEST(GrammarVocab, LlamaVocabularyInsideAJsonString) {
    LLAMUX_FIXTURE(path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(path.string()));
    const auto tokens = tokenizer_bytes(tok);
    const GrammarVocab vocab(tokens, {tok.eos()});
    const auto g = parse_grammar(json_grammar(), "json");
    for (const std::string text : {"", "{\"name\": \"Ti", "{\"a\": [1, 2.5e", "{\"é\": \"\xE2\x82", "{}"}) {
        GrammarState s(g);
        s.advance(text);
        expect_allowed_matches_brute_force(vocab, s, tokens, "after " + text);
    }

    GrammarState s(g);
    s.advance("{\"story\": {\"title\": \"Once upon a time, there was a little");
    std::vector<uint8_t> out;
    vocab.allowed(s, out);
    const auto n_allowed = std::count(out.begin(), out.end(), 1);
    EXPECT_GT(n_allowed, 20000) << "inside a string nearly every token fits";
}

// ---- the JSON grammar -------------------------------------------------------------------

TEST(JsonGrammar, AcceptsObjects) {
    const auto g = parse_grammar(json_grammar(), "json");
    EXPECT_TRUE(matches(g, "{}"));
    EXPECT_TRUE(matches(g, "{ } \n"));
    EXPECT_FALSE(matches(g, " {}")) << "the text starts at the object";
    EXPECT_TRUE(matches(g, "{\"a\":1}"));
    EXPECT_TRUE(matches(g, "{\n  \"name\": \"Ada \\\"L\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00E9 é 😀\",\n"
                           "  \"n\": [0, -1, 3.25, 1e10, -2.5E-3, 6.02e+23, 0.0],\n"
                           "  \"nested\": {\"deep\": {\"x\": [[], [{}], [true, false, null]]}},\n"
                           "  \"empty\": \"\"\n}\n"));
    EXPECT_TRUE(matches(g, "{\"a\" : [ 1 , 2 ] , \"b\":\t{ \"c\" :null } }"));
}

TEST(JsonGrammar, RejectsBrokenJsonAndOtherRoots) {
    const auto g = parse_grammar(json_grammar(), "json");
    for (const char* bad : {"[1, 2]", "\"text\"", "42", "null", "{", "{\"a\"}", "{\"a\":}",
                            "{\"a\":1,}", "{a:1}", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
                            "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":\"\\x41\"}",
                            "{\"a\":\"\\u12G4\"}", "{\"a\":\"line\nbreak\"}", "{\"a\":tru}",
                            "{\"a\":[1 2]}", "{} {}", "{\"a\":1}}"}) {
        EXPECT_FALSE(matches(g, bad)) << bad;
    }
    EXPECT_FALSE(matches(g, "{}" + std::string(41, ' ')));  // whitespace runs are bounded
    EXPECT_TRUE(matches(g, "{}" + std::string(40, ' ')));
}

}  // namespace
}  // namespace llamux
