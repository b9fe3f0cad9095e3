// The oneDNN backend plugin end to end: it loads, runs every model of the fixtures within a
// stated distance of llama.cpp's reference logits, reproduces stories260K's greedy text
// exactly (alone, split with the CPU backend, and through `llamux run --backend onednn`).
#include <gmock/gmock.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "llamux/conformance.hpp"
#include "llamux/generator.hpp"
#include "llamux/session.hpp"
#include "llamux/tokenizer.hpp"
#include "session_helpers.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

// backends/onednn/CMakeLists.txt defines LLAMUX_HAVE_ONEDNN when it builds the plugin.
#ifdef LLAMUX_HAVE_ONEDNN
#define LLAMUX_REQUIRE_ONEDNN() (void)0
#else
#define LLAMUX_REQUIRE_ONEDNN() \
    GTEST_SKIP() << "built without the oneDNN plugin (LLAMUX_ONEDNN=OFF or no libdnnl-dev)"
#endif

// Logit bounds: max |ours - reference| over a row divided by the row's largest magnitude,
// for the default weight policy on a CPU with AVX-512 BF16 (quantized weights as bf16,
// F32 and F16 as f32). Measured worst rows in the comment; each bound leaves about 2x.
// - F32 files (measured 9.2e-5 stories260K, 4.5e-4 synth-tiny): only summation order
//   differs; 1e-3 is the fixtures' own bound for float files. synth-tiny's random weights
//   amplify: the same f32 matmuls in block 3 alone move its logits by 9e-7, in block 0 by
//   4.5e-4 (and the CPU backend sits 7.6e-5 from llama.cpp for the same reason).
// - F16 files (4.8e-4, 1.8e-3): oneDNN 2.6 has no f16 matmul on CPUs, so F16 weights are
//   held as f32 (exact) and activations stay f32, where the reference rounds them to f16.
// - Quantized files (3.7e-2 .. 6.5e-2): the reference quantizes every activation row to
//   8 bits (Q8_0 / Q8_K) before the integer dot products; we dequantize the weights
//   (exactly, then to bf16) and keep activations in bf16. Held as f32 instead
//   (LLAMUX_ONEDNN_WEIGHTS=f32) the errors are nearly the same (3.5e-2 .. 6.3e-2): the
//   distance is the reference's activation quantization, amplified by synth-tiny's random
//   weights, not bf16. The CPU backend, which reproduces the reference's integer path, lands
//   at 1e-6 for the K-quants and Q5_0, and 2e-2 .. 4e-2 for the files whose reference came
//   through another llama.cpp kernel (see test_generation.cpp).
// Op-level correctness, with tight per-element bounds, is the conformance test below.
double logit_bound(const std::string& model) {
    static const std::map<std::string, double> bounds = {
        {"stories260K.gguf", 1e-3},         {"stories260K-F16.gguf", 5e-3},
        {"synth-tiny-F32.gguf", 1e-3},      {"synth-tiny-F16.gguf", 5e-3},
        {"synth-tiny-Q2_K.gguf", 1.1e-1},   {"synth-tiny-Q3_K_M.gguf", 9e-2},
        {"synth-tiny-Q4_0.gguf", 8e-2},     {"synth-tiny-Q4_1.gguf", 9e-2},
        {"synth-tiny-Q4_K_M.gguf", 1e-1},   {"synth-tiny-Q5_0.gguf", 9e-2},
        {"synth-tiny-Q5_K_M.gguf", 1.3e-1}, {"synth-tiny-Q6_K.gguf", 1.2e-1},
        {"synth-tiny-Q8_0.gguf", 1e-1},
    };
    const auto it = bounds.find(model);
    return it == bounds.end() ? 0.0 : it->second;
}

// Set before the plugin, and with it libgomp, is loaded (docs/backends/onednn.md):
// - libgomp's worker threads spin between parallel regions by default; on a shared,
//   oversubscribed test machine that turns milliseconds into seconds (measured: 16 tokens
//   of synth-tiny in 10 s instead of 13 ms). Passive waiting, unless the caller chose;
// - the bounds are for the default weight policy, whatever the caller's environment says.
const bool kTestEnvironment = [] {
    return setenv("OMP_WAIT_POLICY", "passive", 0) == 0 && unsetenv("LLAMUX_ONEDNN_WEIGHTS") == 0;
}();

SessionOptions onednn_options(const std::string& map = "") {
    SessionOptions o;
    o.placement.default_backend = "onednn";
    o.placement.map = map;
    o.plugins.env_path = false;
    return o;
}

TEST(OnednnBackend, PluginLoadsBesideTheBinary) {
    LLAMUX_REQUIRE_ONEDNN();
    PluginSearch search;
    search.env_path = false;
    const auto registry = PluginRegistry::discover(search);
    const auto plugin = registry.find("onednn");
    ASSERT_NE(plugin, nullptr) << "libllamux_backend_onednn.so not found in "
                               << test::plugin_dir();
    EXPECT_EQ(plugin->api().abi_version, LMX_ABI_VERSION);
    EXPECT_GT(plugin->probe().score, 0) << plugin->probe().reason;
    EXPECT_THAT(std::string(plugin->probe().device), ::testing::HasSubstr("oneDNN"));
}

// Every node of the blocks and the head runs on the onednn backend, none falls back; only
// the token embedding (placed on the host) does not.
TEST(OnednnBackend, RunsEveryNodeButTheEmbedding) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    auto model = Model::load(path.string());
    Session session(model, onednn_options());
    test::expect_all_but_embedding_on(session, "onednn");
}

// The op-conformance suite (tight per-element bounds against the reference ops): every case
// passes; only get_rows and copy are declined.
TEST(OnednnBackend, PassesTheOpConformanceSuite) {
    LLAMUX_REQUIRE_ONEDNN();
    PluginSearch search;
    search.env_path = false;
    const auto registry = PluginRegistry::discover(search);
    const auto plugin = registry.find("onednn");
    ASSERT_NE(plugin, nullptr);
    auto backend = Backend::create(plugin, {});
    const ConformanceReport report = run_conformance(*backend, {});
    std::string failures;
    for (const auto& r : report.results) {
        if (r.status == CaseStatus::failed) {
            failures += r.op + " " + r.dtypes + " " + r.shape + ": " + r.message + "\n";
        }
        if (r.status == CaseStatus::declined) {
            // Quantized KV caches stay with the host backend.
            bool quantized_cache = false;
            for (const char* type : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1"}) {
                quantized_cache = quantized_cache || ((r.op == "kv_store" || r.op == "attention") &&
                                                      r.dtypes.find(type) != std::string::npos);
            }
            EXPECT_TRUE(r.op == "get_rows" || r.op == "copy" || quantized_cache)
                << "declined: " << r.op << " " << r.dtypes << " " << r.shape;
        }
    }
    EXPECT_EQ(report.failed(), 0u) << failures;
    EXPECT_GT(report.passed(), 0u);
}

class OnednnReference : public ::testing::TestWithParam<std::string> {};

TEST_P(OnednnReference, LogitsWithinBound) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/" + GetParam());
    const test::Reference ref = test::load_reference(ref_path);
    const fs::path model_path = test::model_fixture(ref.model);
    if (model_path.empty()) {
        if (test::in_ci()) FAIL() << "model missing: " << ref.model;
        GTEST_SKIP() << "model missing: " << ref.model;
    }
    const double bound = logit_bound(ref.model);
    ASSERT_GT(bound, 0.0) << "no bound stated for " << ref.model;
    auto model = Model::load(model_path.string());
    Session session(model, onednn_options());
    const std::vector<float> all = session.decode(ref.prompt_tokens, true);
    const auto n_vocab = static_cast<size_t>(ref.n_vocab);
    ASSERT_EQ(all.size(), ref.logits.size() * n_vocab);
    double worst = 0.0;
    for (size_t row = 0; row < ref.logits.size(); ++row) {
        const std::vector<float> ours(all.begin() + static_cast<std::ptrdiff_t>(row * n_vocab),
                                      all.begin() + static_cast<std::ptrdiff_t>((row + 1) * n_vocab));
        const double e = test::relative_row_error(ours, ref.logits[row]);
        worst = std::max(worst, e);
        EXPECT_LE(e, bound) << ref.model << " position " << row;
    }
    RecordProperty("worst_relative_error", std::to_string(worst));
    std::printf("[ onednn  ] %-26s worst row error %.3e (bound %.1e)\n", ref.model.c_str(), worst,
                bound);

    // The same positions one token at a time (the single-token programs) agree with the
    // batched ones: both are the same primitives at another M.
    session.reset();
    std::vector<float> last;
    for (int32_t t : ref.prompt_tokens) last = session.decode({t});
    const std::vector<float> batched_last(all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end());
    EXPECT_LE(test::relative_row_error(last, batched_last), bound / 4);

    // Greedy continuation fed the reference's own tokens: where our top choice leads our
    // runner-up by more than 10% of the row's magnitude, it must be the reference's token
    // (closer calls are legitimately fragile at these bounds).
    session.reset();
    std::vector<float> logits(all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end());
    session.decode(ref.prompt_tokens);
    int checked = 0;
    for (size_t step = 0; step < ref.greedy_tokens.size(); ++step) {
        std::vector<float> sorted = logits;
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        float scale = 0.0f;
        for (float x : logits) scale = std::max(scale, std::abs(x));
        const auto top = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (sorted[0] - sorted[1] > 0.1f * scale) {
            EXPECT_EQ(top, ref.greedy_tokens[step]) << ref.model << " greedy step " << step;
            ++checked;
        }
        logits = session.decode({ref.greedy_tokens[step]});
    }
    EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, OnednnReference, ::testing::ValuesIn(test::reference_files()),
                         test::reference_test_name);

// stories260K is an F32 file: weights stay f32 and the greedy tokens must be llama.cpp's.
class OnednnGreedy : public ::testing::TestWithParam<std::string> {};

TEST_P(OnednnGreedy, TokensIdenticalToReference) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/" + GetParam());
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    auto model = Model::load(model_path.string());
    Session session(model, onednn_options());
    const auto [tokens, text] =
        test::greedy(session, model->tokenizer(), ref.prompt_tokens, static_cast<int32_t>(ref.greedy_tokens.size()));
    EXPECT_EQ(tokens, ref.greedy_tokens);
    EXPECT_EQ(text, ref.greedy_text);
}

INSTANTIATE_TEST_SUITE_P(Stories260K, OnednnGreedy,
                         ::testing::Values("stories260K-F32.once-upon-a-time.json",
                                           "stories260K-F32.lily-and-ben.json",
                                           "stories260K-F32.tom-wanted.json"),
                         test::reference_test_name);

// Blocks 0-1 on oneDNN, 2-4 and the head on the CPU backend: copies at both boundaries,
// the same text.
TEST(OnednnBackend, SplitPlacementProducesTheReferenceText) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    auto model = Model::load(model_path.string());
    SessionOptions options = onednn_options("0-1:onednn,2-4:cpu,output:cpu");
    Session session(model, options);
    ExecutionPlan& plan = session.plan(1, false);
    const auto& backends = plan.node_backends();
    EXPECT_NE(std::find(backends.begin(), backends.end(), "onednn"), backends.end());
    EXPECT_GE(plan.stats().n_copies, 2u);
    const auto [tokens, text] =
        test::greedy(session, model->tokenizer(), ref.prompt_tokens, static_cast<int32_t>(ref.greedy_tokens.size()));
    EXPECT_EQ(tokens, ref.greedy_tokens);
    EXPECT_EQ(text, ref.greedy_text);
}

// The thread count is the plugin's to apply (-t): one thread and two give the same logits
// up to summation order.
TEST(OnednnBackend, OneThreadMatchesManyThreads) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-F32.gguf");
    auto model = Model::load(path.string());
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    SessionOptions one = onednn_options();
    one.n_threads = 1;
    SessionOptions two = onednn_options();
    two.n_threads = 2;
    Session a(model, one), b(model, two);
    const auto la = a.decode(prompt, true);
    const auto lb = b.decode(prompt, true);
    EXPECT_LE(test::relative_row_error(la, lb), 1e-5);
}

// Context shifts move the plugin's caches through its tensor reads and writes: 120 greedy
// tokens in a 32-position context (7 shifts) are the CPU backend's, alone and split.
TEST(OnednnBackend, ContextShiftsGiveTheCpuTokens) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    auto tokens_with = [&](SessionOptions options) {
        options.n_ctx = 32;
        Session session(model, options);
        const auto [tokens, n_shifts] = test::greedy_shifting(session, {1, 403, 407, 261, 378}, 120);
        EXPECT_EQ(n_shifts, 7);
        return tokens;
    };
    SessionOptions cpu;
    cpu.plugins.env_path = false;
    const auto expected = tokens_with(cpu);
    EXPECT_EQ(tokens_with(onednn_options()), expected);
    EXPECT_EQ(tokens_with(onednn_options("0-2:onednn,3-4:cpu,output:cpu")), expected);
}

TEST(OnednnBackend, CommandLineRunPrintsTheReferenceText) {
    LLAMUX_REQUIRE_ONEDNN();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    const auto r = test::run_command({test::llamux_exe().string(), "run", "--backend", "onednn",
                                      "-m", model_path.string(), "-p", "Once upon a time", "-n",
                                      "64", "--temp", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "Once upon a time" + ref.greedy_text);
}

}  // namespace
}  // namespace llamux
