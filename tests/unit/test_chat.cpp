// Chat prompts: Meta's Llama 2 layout token by token, the text formats, stop markers, the
// format named by a GGUF's chat template, and messages a format cannot express.
#include <gmock/gmock.h>

#include <algorithm>
#include <fstream>

#include "llamux/chat.hpp"
#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"
#include "llamux/model.hpp"
#include "session_helpers.hpp"
#include "stop_text.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

class ChatTest : public ::testing::Test {
protected:
    void SetUp() override {
        LLAMUX_FIXTURE(path, "models/stories260K.gguf");
        model_ = Model::load(path.string());
    }
    const Tokenizer& tok() const { return model_->tokenizer(); }
    // `llamux chat -m <the model> <flags>` with `input` on stdin.
    test::CommandResult chat(const std::string& flags, const std::string& input) const {
        test::TempDir dir;
        const auto file = dir.path() / "in.txt";
        std::ofstream(file) << input;
        return test::run_command({"/bin/sh", "-c", "'" + test::llamux_exe().string() + "' chat -m '" +
                                                       model_->path() + "' " + flags + " < '" + file.string() + "'"});
    }
    std::shared_ptr<const Model> model_;
};

TEST_F(ChatTest, Llama2FollowsMetasReferenceLayout) {
    const std::vector<ChatMessage> messages = {{"system", "Be brief."},
                                               {"user", " Hi "},
                                               {"assistant", "Hello! "},
                                               {"user", "Why is the sky blue?"}};
    const ChatPrompt p = chat_prompt(ChatFormat::Llama2, messages, tok());
    const int32_t bos = tok().bos(), eos = tok().eos();
    EXPECT_EQ(p.tokens, concat({{bos}, tok().encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi [/INST] Hello! ", false),
                                {eos, bos}, tok().encode("[INST] Why is the sky blue? [/INST]", false)}));
    EXPECT_TRUE(p.stop_texts.empty());
    EXPECT_TRUE(p.stop_tokens.empty());
    EXPECT_EQ(chat_prompt(ChatFormat::Llama2, {{"user", "Hi"}}, tok()).tokens,
              concat({{bos}, tok().encode("[INST] Hi [/INST]", false)}));
}

TEST_F(ChatTest, ZephyrAndChatmlAreTextWithSpecialTokens) {
    const std::vector<ChatMessage> messages = {{"system", "S"}, {"user", "U"}};
    const ChatPrompt z = chat_prompt(ChatFormat::Zephyr, messages, tok());
    EXPECT_EQ(z.tokens, tok().encode("<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n", true, true));
    EXPECT_EQ(std::count(z.tokens.begin(), z.tokens.end(), tok().eos()), 2);  // "</s>" is EOS
    const ChatPrompt c = chat_prompt(ChatFormat::ChatML, messages, tok());
    EXPECT_EQ(c.tokens, tok().encode("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                                     "<|im_start|>assistant\n", true, true));
    // This vocabulary has no <|im_end|> token: the answer stops at the text.
    EXPECT_EQ(c.stop_texts, std::vector<std::string>{"<|im_end|>"});
    EXPECT_TRUE(c.stop_tokens.empty());
}

TEST(Chat, ChatmlStopsAtTheImEndTokenWhereTheVocabularyHasOne) {
    std::vector<std::string> pieces{"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "▁", "a", "\n"};
    std::vector<TokenType> types{TokenType::Unknown, TokenType::Control, TokenType::Control, TokenType::Control,
                                 TokenType::Control, TokenType::Normal, TokenType::Normal, TokenType::Normal};
    const Tokenizer tok = Tokenizer::from_vocab(pieces, std::vector<float>(pieces.size(), 0.0f), types, 1, 2, 0,
                                                true, "chatml-vocab");
    const ChatPrompt c = chat_prompt(ChatFormat::ChatML, {{"user", "a"}}, tok);
    EXPECT_EQ(c.stop_tokens, std::vector<int32_t>{4});
    EXPECT_TRUE(c.stop_texts.empty());
    EXPECT_EQ(c.tokens.front(), 1);
    EXPECT_EQ(c.tokens[1], 3);  // <|im_start|> as one token
}

TEST_F(ChatTest, MessagesAFormatCannotExpressAreNamed) {
    struct Case {
        std::vector<ChatMessage> messages;
        std::string words;
    };
    const std::vector<Case> cases = {
        {{}, "at least one message"},
        {{{"user", "a"}, {"robot", "b"}}, "messages[1]: role must be one of system, user, assistant, got 'robot'"},
        {{{"system", "s"}}, "messages[1]: llama-2 chat needs a user message"},
        {{{"system", "s"}, {"user", "u"}, {"user", "v"}}, "messages[2] is 'user'"},
        {{{"user", "u"}, {"assistant", "a"}}, "the last message must come from the user"},
    };
    for (const auto& c : cases) {
        try {
            chat_prompt(ChatFormat::Llama2, c.messages, tok());
            ADD_FAILURE() << "accepted: " << c.words;
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr(c.words));
        }
    }
    // The text formats take any order.
    EXPECT_NO_THROW(chat_prompt(ChatFormat::Zephyr, {{"assistant", "a"}, {"assistant", "b"}}, tok()));
}

TEST(Chat, FormatNamesAndTheGgufTemplate) {
    for (ChatFormat f : kChatFormats) {
        EXPECT_EQ(parse_chat_format(std::string(chat_format_name(f))), f);
    }
    try {
        parse_chat_format("alpaca");
        FAIL() << "alpaca accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("expected llama-2, zephyr or chatml, got 'alpaca'"));
    }
    test::TempDir dir;
    const std::vector<std::pair<std::string, ChatFormat>> templates = {
        {"", ChatFormat::Llama2},
        {"{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}", ChatFormat::Llama2},
        {"{% for m in messages %}<|user|>\n{{ m }}</s>\n<|assistant|>\n{% endfor %}", ChatFormat::Zephyr},
        {"{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}", ChatFormat::ChatML}};
    for (const auto& [chat_template, expected] : templates) {
        GgufWriter w;
        w.set_string("general.architecture", "llama");
        if (!chat_template.empty()) w.set_string("tokenizer.chat_template", chat_template);
        const auto path = dir.path() / "t.gguf";
        w.write(path.string());
        EXPECT_EQ(detect_chat_format(GgufFile::open(path.string())), expected) << chat_template;
    }
}

TEST(StopText, ReleasesWhatCannotStartAStopAndCutsBeforeTheStop) {
    tools::StopText t({"\n\n", "Q:", ""});
    EXPECT_FALSE(t.push("answer\n"));
    EXPECT_EQ(t.release(), "answer");
    t.push("more Q");
    EXPECT_EQ(t.release(), "\nmore ");
    t.push("uiet");
    EXPECT_EQ(t.release(), "Quiet");
    EXPECT_TRUE(t.push(" end\n\nrest"));
    EXPECT_EQ(t.text(), "answer\nmore Quiet end");
    EXPECT_EQ(t.release(), " end");
    EXPECT_TRUE(t.push("ignored"));  // stopped: nothing more is taken
    EXPECT_EQ(t.text(), "answer\nmore Quiet end");

    tools::StopText across({"STOP"});
    std::string out;
    for (const char* piece : {"one ", "two S", "T", "OP three"}) {
        across.push(piece);
        out += across.release();
    }
    EXPECT_EQ(out, "one two ");
    tools::StopText held({"Q:"});
    held.push("text Q");
    EXPECT_EQ(held.release(), "text ");
    EXPECT_EQ(held.release(true), "Q");
}

// `llamux chat` answers each stdin line; its answers are the greedy continuations of the
// conversation laid out by chat_prompt (the second one from the cache the first one left).
TEST_F(ChatTest, CommandLineAnswersEachLineInTheChatLayout) {
    const auto r = chat("--temp 0 -n 12 -t 1 --system 'Tell a story.'", "Once upon a time\n\nTell me more\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const size_t newline = r.out.find('\n');
    ASSERT_NE(newline, std::string::npos);
    const std::string first = r.out.substr(0, newline);
    const std::string second = r.out.substr(newline + 1, r.out.size() - newline - 2);
    EXPECT_EQ(r.out.back(), '\n');

    auto expected = [&](const std::vector<ChatMessage>& messages) {
        Session session(model_, SessionOptions{});
        std::string text = test::greedy(session, tok(), chat_prompt(ChatFormat::Llama2, messages, tok()).tokens, 12).second;
        return text.erase(0, text.find_first_not_of(" \t\n\r"));
    };
    std::vector<ChatMessage> messages = {{"system", "Tell a story."}, {"user", "Once upon a time"}};
    EXPECT_EQ(first, expected(messages));
    messages.push_back({"assistant", first});
    messages.push_back({"user", "Tell me more"});  // the empty line was skipped
    EXPECT_EQ(second, expected(messages));
}

// A conversation longer than the context goes on: the oldest exchanges are dropped (the
// system message stays), and every line still gets its answer.
TEST_F(ChatTest, CommandLineDropsTheOldestExchangesOfALongConversation) {
    const auto r = chat("-c 64 --temp 0 -n 12 -t 1 --system 'Tell a story.'", "Once upon a time\nTell me more\nAnd then?\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
    EXPECT_THAT(r.err, HasSubstr("the oldest exchange was dropped to fit the context of 64 tokens"));
}

TEST_F(ChatTest, CommandLineErrorsNameTheFlagOrTheLimit) {
    auto r = test::run_command({test::llamux_exe().string(), "chat", "-m", model_->path(), "--chat-format", "alpaca"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("got 'alpaca'"));
    // A message too long for the context is skipped with the reason, the next one answered,
    // and the exit status says one was refused.
    r = chat("-c 24 --temp 0 -n 4", "Once upon a time there was a girl who liked to play in the park every day\nHi\n");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("the context holds 24 (raise -c); message skipped"));
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
}

}  // namespace
}  // namespace llamux
