// Saving and loading what a session's cache holds (Session::save_state / load_state), and
// `llamux run --prompt-cache`, llama.cpp main's prompt cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "llamux/error.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct SessionState : ::testing::Test {
    void SetUp() override {
        LLAMUX_FIXTURE(path, "models/stories260K.gguf");
        model = Model::load(path.string());
        prompt = model->tokenizer().encode("Once upon a time, there was a little", true);
    }
    SessionOptions options(int32_t n_ctx = 128) const {
        SessionOptions o;
        o.n_ctx = n_ctx;
        o.n_threads = 1;
        return o;
    }
    std::shared_ptr<const Model> model;
    std::vector<int32_t> prompt;
};

TEST_F(SessionState, ALoadedCacheContinuesAsTheSavedOne) {
    Session saved(model, options());
    saved.decode(prompt);
    std::stringstream state;
    saved.save_state(state);

    Session loaded(model, options(256));  // another context size is fine if the state fits
    loaded.decode(model->tokenizer().encode("Something else entirely", true));
    loaded.load_state(state, "test state");
    EXPECT_EQ(loaded.tokens(), prompt);
    const std::vector<int32_t> next = model->tokenizer().encode("girl", false);
    EXPECT_EQ(loaded.decode(next), saved.decode(next)) << "the same rows give the same logits, bit for bit";

    std::stringstream empty;
    Session fresh(model, options());
    fresh.save_state(empty);
    loaded.load_state(empty, "empty state");
    EXPECT_EQ(loaded.n_past(), 0);
}

// Version 1 states (one cache type for keys and values) still load.
TEST_F(SessionState, VersionOneStatesLoad) {
    Session saved(model, options());
    saved.decode(prompt);
    std::stringstream state;
    saved.save_state(state);
    // Version 2 after the magic; the value cache type follows the key cache type at byte 36.
    std::string bytes = state.str();
    const uint32_t one = 1;
    bytes.replace(8, sizeof one, reinterpret_cast<const char*>(&one), sizeof one);
    bytes.erase(36, 4);
    std::stringstream v1(bytes);
    Session loaded(model, options());
    loaded.load_state(v1, "v1 state");
    EXPECT_EQ(loaded.tokens(), prompt);
    const std::vector<int32_t> next = model->tokenizer().encode("girl", false);
    EXPECT_EQ(loaded.decode(next), saved.decode(next));
}

TEST_F(SessionState, BadStatesAreErrorsThatLeaveAnEmptyCache) {
    Session saved(model, options());
    saved.decode(prompt);
    std::stringstream state;
    saved.save_state(state);
    const std::string bytes = state.str();

    LLAMUX_FIXTURE(f16_path, "models/stories260K-F16.gguf");
    const struct {
        std::shared_ptr<const Model> model;
        SessionOptions options;
        std::string bytes;
        const char* message;
    } cases[] = {
        {model, options(), "not a state", "s: not a llamux session state"},
        {model, options(), bytes.substr(0, bytes.size() - 10), "s: session state ends early, in the cache rows"},
        {model, options(4), bytes, "holds 10 tokens, more than the context of 4"},
        {Model::load(f16_path.string()), options(), bytes, "made for another model file than"},
        {model, [&] { auto o = options(); o.kv_type_k = DType::F32; return o; }(), bytes,
         "s: session state holds a f16 key cache, this session has f32 (-ctk)"},
        {model, [&] { auto o = options(); o.kv_type_v = DType::BF16; return o; }(), bytes,
         "s: session state holds a f16 value cache, this session has bf16 (-ctv)"},
    };
    for (const auto& c : cases) {
        Session session(c.model, c.options);
        session.decode({1, 2, 3});
        std::stringstream in(c.bytes);
        try {
            session.load_state(in, "s");
            ADD_FAILURE() << "accepted: " << c.message;
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr(c.message));
        }
        EXPECT_EQ(session.n_past(), 0) << c.message;
    }
}

TEST_F(SessionState, PromptCacheReusesTheSharedStart) {
    test::TempDir dir;
    const std::string cache = (dir.path() / "prompt.cache").string();
    const std::string m = model->path();
    auto run = [&](const std::string& text, std::vector<std::string> extra) {
        std::vector<std::string> args = {"run", "-m", m, "-p", text, "-n", "12", "--temp", "0",
                                         "--prompt-cache", cache};
        args.insert(args.end(), extra.begin(), extra.end());
        return test::run_llamux(args);
    };
    const std::string girl = "Once upon a time, there was a little girl";
    const auto first = run(girl, {});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_THAT(first.err, Not(HasSubstr("from the prompt cache")));
    ASSERT_TRUE(std::filesystem::exists(cache));
    const auto size = std::filesystem::file_size(cache);

    const auto again = run(girl, {});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, first.out);
    EXPECT_THAT(again.err, HasSubstr("prompt 13 tokens (12 from the prompt cache)"));

    // Read-only: a prompt that parts earlier reuses the shared start and leaves the file.
    const auto boy = run("Once upon a time, there was a little boy", {"--prompt-cache-ro"});
    ASSERT_EQ(boy.exit_code, 0) << boy.err;
    EXPECT_THAT(boy.err, HasSubstr("(10 from the prompt cache)"));
    EXPECT_EQ(test::run_llamux({"run", "-m", m, "-p", "Once upon a time, there was a little boy", "-n",
                                "12", "--temp", "0"}).out,
              boy.out);
    EXPECT_EQ(std::filesystem::file_size(cache), size);

    // --prompt-cache-all keeps the generated tokens too (all but the last, never evaluated).
    ASSERT_EQ(run(girl, {"--prompt-cache-all"}).exit_code, 0);
    EXPECT_GT(std::filesystem::file_size(cache), size);
    const auto longer = run(first.out, {});
    EXPECT_THAT(longer.err, HasSubstr("prompt 25 tokens (24 from the prompt cache)"));

    const auto alone = test::run_llamux({"run", "-m", m, "-p", "x", "--prompt-cache-ro"});
    EXPECT_NE(alone.exit_code, 0);
    EXPECT_THAT(alone.err, HasSubstr("--prompt-cache-all and --prompt-cache-ro: expected --prompt-cache FILE"));
}

}  // namespace
}  // namespace llamux
