// Quantized KV caches (-ctk/-ctv q8_0, q4_0, q4_1, q5_0, q5_1, keys and values each): less
// memory than F16, with llama.cpp's numerics for such caches (q quantized for the dot with a
// quantized K; a quantized V read as its flash attention reads it: rows dequantized,
// probabilities in float). synth-tiny's heads are 32 wide, one block; stories260K's 8-wide
// heads cannot hold blocks and are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "llamux/error.hpp"
#include "llamux/session.hpp"
#include "session_helpers.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

SessionOptions cache_options(DType k, DType v) {
    SessionOptions o;
    o.n_ctx = 128;
    o.n_threads = 1;
    o.kv_type_k = k;
    o.kv_type_v = v;
    return o;
}

std::vector<int32_t> prompt_tokens(const Model& model) {
    std::vector<int32_t> tokens = model.tokenizer().encode("Once upon a time", true);
    for (int32_t i = 0; tokens.size() < 40; ++i) tokens.push_back(300 + (i * 37) % 200);
    return tokens;
}

// llama.cpp c392e50's `llama-cli -ctk K -ctv V --temp 0 -t 1 -c 256 -n 24` text on the same
// file, with -fa where V is quantized (llama.cpp has no other path for such a V); bytes that
// are no UTF-8 shown as U+FFFD, as llamux prints them. (With Q4_1 keys the last token
// differs: llama.cpp's Q8_1 activations round the block sum term to f16, docs/numerics.md.)
TEST(KvCacheQuantized, RunGivesLlamaCppsText) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const std::string bad = "\xef\xbf\xbd";
    const std::string q8_0 = "Once upon a timeith" + bad + " time time time time timeA" + bad + "\x1a/" + bad +
                             "\xe2\x80\xa6" + bad + " time" + bad + " with3ved>P" + bad + "or" + bad;
    test::expect_outputs(
        {"run", "-m", model.string(), "-p", "Once upon a time", "-n", "24", "--temp", "0", "-t", "1", "-c", "256"},
        {{{"-ctk", "q8_0", "-ctv", "q8_0"}, q8_0},
         {{"-ctk", "q8_0"}, q8_0},
         {{"-ctk", "q4_0", "-ctv", "q4_0"},
          "Once upon a timeith\xef\xbf\xbd time\xef\xbf\xbd" "ent\x07" "C\\2!7\xef\xbf\xbd\xef\xbf\xbd-P O "
          "inis\xef\xbf\xbd dDstn\xef\xbf\xbd"},
         {{"-ctk", "q5_1", "-ctv", "q5_1"},
          "Once upon a timeith\xef\xbf\xbd time time time time timeA\xef\xbf\xbd\x1a/\xef\xbf\xbd\xe2\x80\xa6"
          "\xef\xbf\xbd" "D\xe2\x80\xa6\xef\xbf\xbd\x18\xef\xbf\xbd wasF eh\xef\xbf\xbd"},
         {{"-ctv", "q4_0"},
          "Once upon a timeith\xef\xbf\xbd time\xef\xbf\xbd" "ent\x07" "C\\2\xef\xbf\xbd Lily>P saidP "
          "h!\xef\xbf\xbdOYLY=\xef\xbf\xbd"},
         {{"-ctk", "q4_1", "-ctv", "q5_0"},
          "Once upon a timeith\xef\xbf\xbd timent weitV\xef\xbf\xbd B\x17!im He-ith\xef\xbf\xbd\xef\xbf\xbd "
          "wasch\xef\xbf\xbd Hep#\xef\xbf\xbd"}});
}

struct CachePair {
    DType k, v;
    double bound;  // relative logit error against F16 caches (measured values beside each)
    double shift_bound;  // after a shift in one block, against a fresh evaluation
};

std::string pair_name(const CachePair& p) {
    return std::string(info(p.k).name) + "_" + std::string(info(p.v).name);
}

class QuantizedCache : public ::testing::TestWithParam<CachePair> {};

// Quantizing the cache moves the logits a little (and really quantizes: they differ).
TEST_P(QuantizedCache, LogitsStayCloseToTheF16Caches) {
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-F32.gguf");
    const CachePair& c = GetParam();
    const auto model = Model::load(path.string());
    const std::vector<int32_t> tokens = prompt_tokens(*model);
    Session f16(model, cache_options(DType::F16, DType::F16));
    Session q(model, cache_options(c.k, c.v));
    const std::vector<float> a = f16.decode(tokens, true), b = q.decode(tokens, true);
    ASSERT_EQ(a.size(), b.size());
    const double error = test::relative_row_error(b, a);
    std::printf("[ %-9s] logits of %zu positions against the F16 caches': %.2e\n", pair_name(c).c_str(),
                tokens.size(), error);
    EXPECT_GT(error, 0.0);
    EXPECT_LT(error, c.bound);
    // One token at a time reads what the batch stored.
    Session step(model, cache_options(c.k, c.v));
    step.decode(std::vector<int32_t>(tokens.begin(), tokens.end() - 1));
    const std::vector<float> last = step.decode({tokens.back()});
    const std::vector<float> batch_last(b.end() - static_cast<long>(last.size()), b.end());
    EXPECT_LT(test::relative_row_error(last, batch_last), 1e-4);
}

// In synth-tiny's first block alone, a shifted cache must equal a fresh evaluation of the
// kept tokens up to the rounding of the turned keys (requantized); a saved state loads back
// bit for bit, and not into a cache of another type.
TEST_P(QuantizedCache, ShiftsAndStatesWork) {
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-F32.gguf");
    const CachePair& c = GetParam();
    test::TempDir dir;
    const auto model = test::one_block_model(path, dir.path());
    const std::vector<int32_t> tokens = prompt_tokens(*model);
    Session session(model, cache_options(c.k, c.v));
    session.decode(tokens);
    std::stringstream state;
    session.save_state(state);
    session.shift(1, 20);
    ASSERT_EQ(session.n_past(), static_cast<int32_t>(tokens.size()) - 20);
    const std::vector<float> shifted = session.decode({300});
    std::vector<int32_t> kept(tokens.begin(), tokens.begin() + 1);
    kept.insert(kept.end(), tokens.begin() + 21, tokens.end());
    Session fresh(model, cache_options(c.k, c.v));
    fresh.decode(kept);
    const double error = test::relative_row_error(shifted, fresh.decode({300}));
    std::printf("[ %-9s] shifted against fresh, one block: %.2e\n", pair_name(c).c_str(), error);
    // The turned keys are quantized again (for Q8_0 1.3e-2 measured, and a turn one position
    // off gives 3.8e-1).
    EXPECT_LT(error, c.shift_bound);

    Session loaded(model, cache_options(c.k, c.v));
    loaded.load_state(state, "cache state");
    Session again(model, cache_options(c.k, c.v));
    again.decode(tokens);
    EXPECT_EQ(loaded.decode({300}), again.decode({300})) << "the same rows give the same logits, bit for bit";
    Session other_type(model, cache_options(DType::F32, DType::F32));
    state.clear();
    state.seekg(0);
    EXPECT_THROW(other_type.load_state(state, "cache state"), Error);
}

// Bounds: 1.5 to 2 times what was measured (in the comments: logits, shift); these random-weight
// models magnify the cache's rounding, see docs/numerics.md for the divergence from llama.cpp.
INSTANTIATE_TEST_SUITE_P(
    Types, QuantizedCache,
    ::testing::Values(CachePair{DType::Q8_0, DType::Q8_0, 5e-2, 3e-2},   // 3.1e-2, 1.3e-2
                      CachePair{DType::Q4_0, DType::Q4_0, 5e-1, 3e-1},   // 3.5e-1, 1.9e-1
                      CachePair{DType::Q4_1, DType::Q4_1, 4e-1, 3e-1},   // 2.5e-1, 1.6e-1
                      CachePair{DType::Q5_0, DType::Q5_0, 3e-1, 2e-1},   // 1.7e-1, 1.2e-1
                      CachePair{DType::Q5_1, DType::Q5_1, 2.5e-1, 1.3e-1},  // 1.4e-1, 6.5e-2
                      CachePair{DType::Q8_0, DType::F16, 5e-2, 3e-2},    // 2.9e-2, 1.3e-2
                      CachePair{DType::F16, DType::Q4_0, 4e-1, 1e-3}),   // 2.2e-1, 3.6e-4
    [](const auto& param_info) { return pair_name(param_info.param); });

// -v says what the cache takes, per type (synth-tiny: 4 blocks of 128 key values per position).
TEST(KvCacheQuantized, VerboseRunSaysTheCacheSize) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const auto r = test::run_command({test::llamux_exe().string(), "run", "-m", model.string(), "-p", "Once", "-n",
                                      "1", "-t", "1", "-c", "512", "-ctk", "q8_0", "-ctv", "q4_0", "-v"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("KV cache: 0.41 MiB for -c 512 (K q8_0: 0.27 MiB, V q4_0: 0.14 MiB)"));
}

TEST(KvCacheQuantized, ErrorsNameTheFlagOrTheModel) {
    LLAMUX_FIXTURE(stories, "models/stories260K.gguf");
    LLAMUX_FIXTURE(synth, "models/synth/synth-tiny-F32.gguf");
    test::expect_flag_errors({"run", "-m", stories.string(), "-p", "Once", "-n", "4"}, {
        {{"-ctk", "q8_0", "-ctv", "q8_0"},
         "-ctk q8_0: needs a head size that is a multiple of 32; " + stories.string() + " has heads of 8"},
        {{"-ctv", "q5_1"}, "-ctv q5_1: needs a head size that is a multiple of 32; " + stories.string()},
    });
    test::expect_flag_errors({"run", "-m", synth.string(), "-p", "Once", "-n", "4"}, {
        {{"-ctk", "q4_K"}, "-ctk: expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got q4_K"},
        {{"-ctv", "iq4_nl"}, "-ctv: expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got iq4_nl (llamux has no "
                             "iq4_nl type)"},
    });
}

}  // namespace
}  // namespace llamux
