// Context shift (Session::shift and generation past a full context): the shifted cache
// reads as a fresh evaluation of the kept tokens, and `llamux run` continues exactly as
// llama.cpp's main does on the same file.
#include <gmock/gmock.h>

#include <cstdio>
#include <string>

#include "llamux/error.hpp"
#include "llamux/generator.hpp"
#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"
#include "llamux/session.hpp"
#include "session_helpers.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

struct ShiftCase {
    DType kv_type;
    double bound;  // relative logit error after a shift; see docs/numerics.md
};

class ShiftedCache : public ::testing::TestWithParam<ShiftCase> {};

// After shift(keep, discard) the next token's logits equal, within the rounding of the
// turned keys, those of a fresh session that evaluates the kept tokens.
TEST_P(ShiftedCache, EqualsAFreshEvaluationInOneBlock) {
    LLAMUX_FIXTURE(stories, "models/stories260K.gguf");
    test::TempDir dir;
    const auto model = test::one_block_model(test::model_fixture("stories260K.gguf"), dir.path());
    SessionOptions options;
    options.kv_type_k = options.kv_type_v = GetParam().kv_type;
    options.n_batch = 8;  // several batches, so the cache is filled in pieces
    Session session(model, options);
    std::vector<int32_t> tokens = {1, 403, 407, 261, 378};  // "Once upon a time"
    for (int32_t i = 0; tokens.size() < 40; ++i) tokens.push_back(300 + (i * 37) % 200);

    for (const auto& [keep, discard] : {std::pair{1, 15}, std::pair{5, 12}, std::pair{0, 39}}) {
        session.reset();
        session.decode(tokens);
        session.shift(keep, discard);
        std::vector<int32_t> kept(tokens.begin(), tokens.begin() + keep);
        kept.insert(kept.end(), tokens.begin() + keep + discard, tokens.end());
        EXPECT_EQ(session.tokens(), kept);
        const auto shifted = session.decode({300});

        Session fresh(model, options);
        fresh.decode(kept);
        const auto expected = fresh.decode({300});
        const double error = test::relative_row_error(shifted, expected);
        std::printf("[ shift    ] kv %-4s keep %d discard %2d: row error %.2e (bound %.0e)\n",
                    std::string(info(GetParam().kv_type).name).c_str(), keep, discard, error,
                    GetParam().bound);
        EXPECT_LE(error, GetParam().bound) << "keep " << keep << " discard " << discard;
    }
}

// F32 caches keep the turned keys to float rounding; F16 rounds them once more, as
// llama.cpp's own K-shift does.
INSTANTIATE_TEST_SUITE_P(CacheTypes, ShiftedCache,
                         ::testing::Values(ShiftCase{DType::F32, 1e-5}, ShiftCase{DType::F16, 5e-4}),
                         [](const auto& param_info) {
                             return std::string(llamux::info(param_info.param.kv_type).name);
                         });

TEST(ContextShift, OutOfRangeIsAnErrorThatNamesIt) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    Session session(model, SessionOptions{});
    session.decode({1, 403, 407, 261, 378});
    for (const auto& [keep, discard] : {std::pair{-1, 2}, std::pair{1, 0}, std::pair{2, 4}}) {
        try {
            session.shift(keep, discard);
            ADD_FAILURE() << "shift(" << keep << ", " << discard << ") was accepted";
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr("context shift"));
            EXPECT_THAT(e.what(), HasSubstr("<= 5"));
        }
    }
    EXPECT_EQ(session.n_past(), 5);
}

// With shifts, generation goes on past the context; without, it stops when it is full.
TEST(ContextShift, GenerationGoesOnPastAFullContext) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    SessionOptions session_options;
    session_options.n_ctx = 32;
    GenerateOptions options;
    options.n_predict = 100;
    options.sampling.temperature = 0.0f;
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    auto count = [&](const GenerateOptions& o) {
        Session session(model, session_options);
        int32_t n = 0;
        const GenerateStats stats = generate(session, prompt, o, [&](int32_t) { return ++n > 0; });
        EXPECT_EQ(stats.n_generated, n);
        return stats;
    };

    const GenerateStats stopped = count(options);
    EXPECT_TRUE(stopped.context_full);
    EXPECT_EQ(stopped.n_generated, 32 - 5 + 1);  // the last token is sampled, not evaluated
    EXPECT_EQ(stopped.n_shifts, 0);

    options.context_shift = true;
    const GenerateStats shifted = count(options);
    EXPECT_FALSE(shifted.context_full);
    EXPECT_EQ(shifted.n_generated, 100);
    EXPECT_GE(shifted.n_shifts, 5);

    // Keeping the whole 31-position context leaves nothing to drop: it stops there.
    options.n_keep = -1;
    const std::vector<int32_t> long_prompt(31, 403);
    Session session(model, session_options);
    const GenerateStats kept = generate(session, long_prompt, options, [](int32_t) { return true; });
    EXPECT_TRUE(kept.context_full);
    EXPECT_EQ(kept.n_shifts, 0);
}

struct CliShift : ::testing::Test {
    test::CommandResult llamux(std::vector<std::string> args) { return test::run_llamux(std::move(args)); }
};

// Greedy text of llama.cpp c392e50's main (`llama-cli -no-cnv --temp 0 -n 120 -c 32`) on
// stories260K, which shifts its context 7 and 8 times on the way.
TEST_F(CliShift, RunContinuesAsLlamaCppMain) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const struct {
        const char* keep;
        const char* text;
    } cases[] = {
        {"0",
         "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park. One day, she saw a big, red ball. The ball was very small and shiny. The ball was "
         "very happy. It was a big, red ball. It was a big, red ball. The ball was very small and "
         "small. The ball was very happy. It was a big, red ball. The ball was very happy"},
        {"-1",
         "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park. One day, a little girl named Lily went to the park with her mom. She saw a big, red "
         "ball. The ball was very small and shiny. It was a big, red ball. The ball was very happy. "
         "The ball was very happy. The ball was very happy. The ball was very happy. The ball was "
         "very happy. It"},
    };
    for (const auto& c : cases) {
        const auto r = llamux({"run", "-m", model.string(), "-p", "Once upon a time", "-n", "120",
                               "-c", "32", "--temp", "0", "--keep", c.keep});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, c.text) << "--keep " << c.keep;
        EXPECT_THAT(r.err, HasSubstr("generation 120 tokens"));
        EXPECT_THAT(r.err, HasSubstr("context shifts"));
    }
}

TEST_F(CliShift, StopsAtAFullContextWhenAsked) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string m = model.string();
    for (const std::vector<std::string>& how : {std::vector<std::string>{"-n", "-2"},
                                                std::vector<std::string>{"--no-context-shift"}}) {
        std::vector<std::string> args = {"run", "-m", m, "-p", "Once upon a time", "-c", "32",
                                         "--temp", "0"};
        args.insert(args.end(), how.begin(), how.end());
        const auto r = llamux(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_THAT(r.err, HasSubstr("generation 28 tokens"));
        EXPECT_THAT(r.err, HasSubstr("context full"));
    }
    const auto bad = llamux({"run", "-m", m, "-p", "Once", "-n", "-3"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_THAT(bad.err, HasSubstr("-n: expected -1 (until end of text), -2"));
    EXPECT_THAT(bad.err, HasSubstr("got -3"));
}

}  // namespace
}  // namespace llamux
