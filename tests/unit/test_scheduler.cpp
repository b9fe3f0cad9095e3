// The scheduler with a second, real plugin ("counting", tests/plugins): placement per
// layer, fallback of declined nodes to the host, copies at backend boundaries, and the
// same numbers as an all-CPU run.
#include <dlfcn.h>
#include <gmock/gmock.h>

#include <cstdlib>

#include "llamux/error.hpp"
#include "llamux/sampler.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

struct CountingStats {
    int64_t nodes[LMX_OP_COUNT] = {};
    int64_t layer_mask = 0;
    int64_t weights = 0;
    int64_t live = 0;
};

// Reads the counting plugin's counters through its test hook (same library instance as
// the one the runtime loaded, since dlopen of one path shares it).
CountingStats counting_stats(bool reset) {
    const auto path = test::test_plugin_dir("counting") / "libllamux_test_counting.so";
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << ::dlerror();
    using Fn = void (*)(int64_t*, int64_t*, int64_t*, int64_t*, int32_t);
    auto fn = reinterpret_cast<Fn>(::dlsym(handle, "counting_plugin_stats"));
    CountingStats s;
    if (fn) fn(s.nodes, &s.layer_mask, &s.weights, &s.live, reset ? 1 : 0);
    ::dlclose(handle);
    return s;
}

int64_t counting_adjacent_overlaps() {
    const auto path = test::test_plugin_dir("counting") / "libllamux_test_counting.so";
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << ::dlerror();
    using Fn = int64_t (*)();
    auto fn = reinterpret_cast<Fn>(::dlsym(handle, "counting_plugin_adjacent_overlaps"));
    const int64_t n = fn ? fn() : -1;
    ::dlclose(handle);
    return n;
}

SessionOptions counting_options(const std::string& map) {
    SessionOptions o;
    o.plugins.env_path = false;
    o.plugins.dirs = {test::test_plugin_dir("counting")};
    o.placement.map = map;
    return o;
}

std::vector<int32_t> greedy(Session& s, const std::vector<int32_t>& prompt, int n) {
    std::vector<int32_t> out;
    std::vector<float> logits = s.decode(prompt);
    for (int i = 0; i < n; ++i) {
        out.push_back(argmax(logits.data(), logits.size()));
        if (i + 1 < n) logits = s.decode({out.back()});
    }
    return out;
}

class SchedulerTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = test::find_fixture("models/stories260K.gguf");
        ref_path_ = test::find_fixture("testdata/reference/stories260K-F32.once-upon-a-time.json");
        if (path_.empty() || ref_path_.empty()) {
            if (test::in_ci()) FAIL() << "fixtures missing under " << test::data_root();
            GTEST_SKIP() << "fixtures missing under " << test::data_root();
        }
        model_ = Model::load(path_.string());
        ref_ = test::load_reference(ref_path_);
        ::unsetenv("LLAMUX_TEST_DECLINE");
    }
    void TearDown() override { ::unsetenv("LLAMUX_TEST_DECLINE"); }

    std::filesystem::path path_, ref_path_;
    std::shared_ptr<const Model> model_;
    test::Reference ref_;
};

TEST_F(SchedulerTest, LayersPlacedOnASecondBackendRunThere) {
    counting_stats(true);
    {
        Session s(model_, counting_options("2-4:counting"));
        const auto& backends = s.plan(1, false).node_backends();
        ASSERT_FALSE(backends.empty());
        EXPECT_EQ(backends.front(), "cpu");  // the token embedding
        EXPECT_EQ(backends.back(), "cpu");   // the head was not placed
        EXPECT_EQ(greedy(s, ref_.prompt_tokens, 64), ref_.greedy_tokens);
        const auto stats = counting_stats(false);
        // Bits are layer + 1: layers 2, 3 and 4 only.
        EXPECT_EQ(stats.layer_mask, (1 << 3) | (1 << 4) | (1 << 5));
        EXPECT_GT(stats.nodes[LMX_OP_MATMUL], 0);
        EXPECT_EQ(stats.weights, 3 * 9);  // 9 weights per block, prepared once each
        // Into layer 2: the residual stream and the positions; back for the head.
        EXPECT_EQ(s.plan(1, false).stats().n_copies, 3u);
        EXPECT_EQ(s.plan(1, false).stats().n_runs, 3u);
    }
    EXPECT_EQ(counting_stats(false).live, 0) << "every object the plugin made was freed";
}

// The memory planner keeps every node's output off the inputs of the node before it
// (execution_plan.cpp, kReuseDelay), which lets a backend run the two as one kernel (the
// CUDA backend's rope(q) + rope(k) + KV stores). Checked on prompts and single tokens.
TEST_F(SchedulerTest, NoOutputLandsOnTheInputsOfTheNodeBefore) {
    const int64_t before = counting_adjacent_overlaps();
    ASSERT_GE(before, 0) << "counting plugin without its overlap counter";
    Session s(model_, counting_options("0-4:counting,output:counting"));
    EXPECT_EQ(greedy(s, ref_.prompt_tokens, 8),
              std::vector<int32_t>(ref_.greedy_tokens.begin(), ref_.greedy_tokens.begin() + 8));
    EXPECT_EQ(counting_adjacent_overlaps(), before);
}

TEST_F(SchedulerTest, OutputHeadCanBePlaced) {
    counting_stats(true);
    Session s(model_, counting_options("output:counting"));
    EXPECT_EQ(s.plan(1, false).node_backends().back(), "counting");
    EXPECT_EQ(greedy(s, ref_.prompt_tokens, 16),
              std::vector<int32_t>(ref_.greedy_tokens.begin(), ref_.greedy_tokens.begin() + 16));
    EXPECT_EQ(counting_stats(false).layer_mask, int64_t{1} << 6);
}

TEST_F(SchedulerTest, DeclinedNodesFallBackToTheHost) {
    ::setenv("LLAMUX_TEST_DECLINE", "rope,swiglu", 1);
    counting_stats(true);
    Session s(model_, counting_options("0-4:counting"));
    auto& plan = s.plan(1, false);
    EXPECT_EQ(plan.stats().n_fallback_nodes, 5u * 3u);  // two ropes and a swiglu per block
    EXPECT_EQ(greedy(s, ref_.prompt_tokens, 64), ref_.greedy_tokens);
    const auto stats = counting_stats(false);
    EXPECT_EQ(stats.nodes[LMX_OP_ROPE], 0);
    EXPECT_EQ(stats.nodes[LMX_OP_SWIGLU], 0);
    EXPECT_GT(stats.nodes[LMX_OP_ATTENTION], 0);
    EXPECT_GT(plan.stats().n_copies, 10u);  // back and forth around each declined node
}

TEST_F(SchedulerTest, KvStoreAndAttentionMoveTogether) {
    ::setenv("LLAMUX_TEST_DECLINE", "attention", 1);
    counting_stats(true);
    Session s(model_, counting_options("0-4:counting"));
    EXPECT_EQ(greedy(s, ref_.prompt_tokens, 8),
              std::vector<int32_t>(ref_.greedy_tokens.begin(), ref_.greedy_tokens.begin() + 8));
    EXPECT_EQ(counting_stats(false).nodes[LMX_OP_KV_STORE], 0);
}

TEST_F(SchedulerTest, BatchedPromptMatchesTheReferenceAcrossBackends) {
    Session s(model_, counting_options("1-2:counting,output:counting"));
    const auto logits = s.decode(ref_.prompt_tokens, true);
    const size_t n_vocab = static_cast<size_t>(ref_.n_vocab);
    for (size_t row = 0; row < ref_.logits.size(); ++row) {
        std::vector<float> ours(logits.begin() + static_cast<std::ptrdiff_t>(row * n_vocab),
                                logits.begin() + static_cast<std::ptrdiff_t>((row + 1) * n_vocab));
        EXPECT_LT(test::relative_row_error(ours, ref_.logits[row]), 1e-3) << "row " << row;
    }
}

TEST_F(SchedulerTest, PlacementErrorsNameTheEntry) {
    auto error_of = [&](const std::string& map) -> std::string {
        try {
            Session s(model_, counting_options(map));
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_THAT(error_of("0-2:counting,2-4:cpu"), HasSubstr("layer 2 is placed twice"));
    EXPECT_THAT(error_of("3-7:counting"), HasSubstr("out of range"));
    EXPECT_THAT(error_of("zero:counting"), HasSubstr("'zero:counting'"));
    EXPECT_THAT(error_of("0-1"), HasSubstr("expected RANGE:BACKEND"));
    EXPECT_THAT(error_of("0-1:tpu"), HasSubstr("backend tpu: no usable plugin"));
}

TEST(Placement, GpuLayersFollowLlamaCppRule) {
    PlacementSpec spec;
    spec.n_gpu_layers = 2;
    spec.gpu_backend = "gpu";
    auto p = Placement::resolve(spec, 5, "cpu");
    EXPECT_EQ(p.backend_of(-1), "cpu");
    EXPECT_EQ(p.backend_of(2), "cpu");
    EXPECT_EQ(p.backend_of(3), "gpu");
    EXPECT_EQ(p.backend_of(4), "gpu");
    EXPECT_EQ(p.backend_of(5), "cpu");  // head only when N > blocks
    spec.n_gpu_layers = 6;
    p = Placement::resolve(spec, 5, "cpu");
    EXPECT_EQ(p.backend_of(0), "gpu");
    EXPECT_EQ(p.backend_of(5), "gpu");
    EXPECT_EQ(p.backend_of(-1), "cpu");  // embeddings stay on the host
    spec.n_gpu_layers = 99;
    EXPECT_EQ(Placement::resolve(spec, 5, "cpu").describe(), p.describe());
}

TEST_F(SchedulerTest, GpuLayersWithoutAGpuBackendRunOnTheCpu) {
    SessionOptions o;
    o.placement.n_gpu_layers = 3;
    o.placement.gpu_backend = "no_such_gpu";
    Session s(model_, o);
    EXPECT_EQ(s.placement().backend_names(), std::vector<std::string>{"cpu"});
    EXPECT_EQ(greedy(s, ref_.prompt_tokens, 8),
              std::vector<int32_t>(ref_.greedy_tokens.begin(), ref_.greedy_tokens.begin() + 8));
}

}  // namespace
}  // namespace llamux
