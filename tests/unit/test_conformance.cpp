// The op-conformance suite (runtime/conformance.hpp) on real plugins: the CPU plugin, the
// counting test plugin and the SDK example pass it; a plugin that claims and then refuses,
// or that computes subtly wrong numbers, fails it; oneDNN and CUDA plugins run when built
// and able to run here.
#include <gmock/gmock.h>

#include <cstdlib>
#include <map>

#include "llamux/conformance.hpp"
#include "llamux/error.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

PluginSearch only(std::vector<fs::path> dirs, std::vector<fs::path> files = {}) {
    PluginSearch s;
    s.default_dirs = false;
    s.env_path = false;
    s.dirs = std::move(dirs);
    s.files = std::move(files);
    return s;
}

// A backend of the plugin called `name` in `dir`; null (with a test failure) if absent.
std::shared_ptr<Backend> backend_in(const fs::path& dir, const std::string& name) {
    const auto registry = PluginRegistry::discover(only({dir}));
    auto plugin = registry.find(name);
    EXPECT_NE(plugin, nullptr) << "no plugin " << name << " in " << dir;
    return plugin ? Backend::create(plugin, {}) : nullptr;
}

// Every failed result, one per line, for a readable assertion message.
std::string failures(const ConformanceReport& report) {
    std::string s;
    for (const auto& r : report.results) {
        if (r.status == CaseStatus::failed) {
            s += r.op + " " + r.dtypes + " " + r.shape + ": " + r.message + "\n";
        }
    }
    return s;
}

// Results per op name: {ran, declined}.
std::map<std::string, std::pair<size_t, size_t>> per_op(const ConformanceReport& report) {
    std::map<std::string, std::pair<size_t, size_t>> m;
    for (const auto& r : report.results) {
        if (r.status == CaseStatus::declined) {
            ++m[r.op].second;
        } else {
            ++m[r.op].first;
        }
    }
    return m;
}

class Conformance : public ::testing::Test {
protected:
    void SetUp() override {
        ::unsetenv("LLAMUX_TEST_DECLINE");
        ::unsetenv("LLAMUX_TEST_BUG");
        ::unsetenv("LLAMUX_TEST_FAULT_AT");
        ::unsetenv("LLAMUX_TEST_VARIANT");
    }
    void TearDown() override { SetUp(); }
};

TEST_F(Conformance, CpuPluginPassesEveryCase) {
    auto cpu = backend_in(test::plugin_dir(), "cpu");
    ASSERT_NE(cpu, nullptr);
    const ConformanceReport report = run_conformance(*cpu, {});
    EXPECT_EQ(report.failed(), 0u) << failures(report);
    EXPECT_EQ(report.declined(), 0u);
    EXPECT_GE(report.passed(), 300u);
    // Every op of the ABI has cases.
    const auto ops = per_op(report);
    for (const std::string& op : conformance_ops()) EXPECT_GT(ops.count(op), 0u) << op;
}

TEST_F(Conformance, CountingPluginPasses) {
    auto counting = backend_in(test::test_plugin_dir("counting"), "counting");
    ASSERT_NE(counting, nullptr);
    const ConformanceReport report = run_conformance(*counting, {});
    EXPECT_EQ(report.failed(), 0u) << failures(report);
    EXPECT_EQ(report.declined(), 0u);
}

TEST_F(Conformance, DeclinedCasesAreCountedNotFailed) {
    ::setenv("LLAMUX_TEST_DECLINE", "rope,matmul", 1);
    auto counting = backend_in(test::test_plugin_dir("counting"), "counting");
    ASSERT_NE(counting, nullptr);
    const ConformanceReport report = run_conformance(*counting, {});
    EXPECT_EQ(report.failed(), 0u) << failures(report);
    const auto ops = per_op(report);
    EXPECT_EQ(ops.at("rope").first, 0u);
    EXPECT_EQ(ops.at("matmul").first, 0u);
    EXPECT_EQ(report.declined(), ops.at("rope").second + ops.at("matmul").second);
    EXPECT_GT(ops.at("attention").first, 0u);
}

TEST_F(Conformance, ExamplePluginRunsItsThreeOpsAndDeclinesTheRest) {
    auto example = backend_in(test::test_plugin_dir("example"), "example");
    ASSERT_NE(example, nullptr);
    const ConformanceReport report = run_conformance(*example, {});
    EXPECT_EQ(report.failed(), 0u) << failures(report);
    for (const auto& [op, counts] : per_op(report)) {
        const bool own = op == "add" || op == "swiglu" || op == "rms_norm";
        EXPECT_EQ(counts.first > 0, own) << op;
        EXPECT_EQ(counts.second > 0, !own) << op;
    }
}

TEST_F(Conformance, OpFilterRunsOnlyThatOp) {
    auto cpu = backend_in(test::plugin_dir(), "cpu");
    ASSERT_NE(cpu, nullptr);
    ConformanceOptions o;
    o.op = "attention";
    size_t seen = 0;
    const ConformanceReport report = run_conformance(*cpu, o, [&](const ConformanceResult&) { ++seen; });
    ASSERT_FALSE(report.results.empty());
    EXPECT_EQ(seen, report.results.size());
    for (const auto& r : report.results) EXPECT_EQ(r.op, "attention");
    // n_past is an execution argument: every attention case runs twice on one program.
    size_t with_past = 0;
    for (const auto& r : report.results) with_past += r.shape.find("past=13") != std::string::npos;
    EXPECT_EQ(2 * with_past, report.results.size());
}

TEST_F(Conformance, UnknownOpNamesTheKnownOnes) {
    auto cpu = backend_in(test::plugin_dir(), "cpu");
    ASSERT_NE(cpu, nullptr);
    ConformanceOptions o;
    o.op = "conv2d";
    try {
        run_conformance(*cpu, o);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("--op conv2d"));
        EXPECT_THAT(e.what(), HasSubstr("matmul"));
    }
}

TEST_F(Conformance, ClaimingAnOpAndRefusingItFails) {
    auto liar = backend_in(test::test_plugin_dir("faulty-unsupported"), "faulty_unsupported");
    ASSERT_NE(liar, nullptr);
    ConformanceOptions o;
    o.op = "rope";
    const ConformanceReport report = run_conformance(*liar, o);
    ASSERT_FALSE(report.results.empty());
    EXPECT_EQ(report.failed(), report.results.size());
    EXPECT_THAT(report.results.front().message, HasSubstr("compiling conformance case rope"));
    EXPECT_THAT(report.results.front().message, HasSubstr("unsupported"));
    o.op = "add";
    EXPECT_EQ(run_conformance(*liar, o).failed(), 0u);
}

TEST_F(Conformance, AnExecuteErrorIsAFailureNotACrash) {
    auto broken = backend_in(test::test_plugin_dir("faulty-execute"), "faulty_execute");
    ASSERT_NE(broken, nullptr);
    ConformanceOptions o;
    o.op = "kv_store";
    const ConformanceReport report = run_conformance(*broken, o);
    ASSERT_FALSE(report.results.empty());
    EXPECT_EQ(report.failed(), report.results.size());
    EXPECT_THAT(report.results.front().message, HasSubstr("device error"));
    EXPECT_THAT(report.results.front().message, HasSubstr("simulated device fault"));
}

// Subtle bugs a fast kernel may have: each must fail the suite, and the same plugin
// without the bug must pass it.
struct Bug {
    const char* name;
    const char* op;
};
class ConformanceCatches : public Conformance, public ::testing::WithParamInterface<Bug> {};

TEST_P(ConformanceCatches, SubtleNumericalBug) {
    auto backend = backend_in(test::test_plugin_dir("faulty-numerics"), "faulty_numerics");
    ASSERT_NE(backend, nullptr);
    ConformanceOptions o;
    o.op = GetParam().op;
    EXPECT_EQ(run_conformance(*backend, o).failed(), 0u) << "without the bug";
    ::setenv("LLAMUX_TEST_BUG", GetParam().name, 1);
    const ConformanceReport report = run_conformance(*backend, o);
    EXPECT_GT(report.failed(), 0u) << GetParam().name << " went unnoticed";
}

INSTANTIATE_TEST_SUITE_P(Bugs, ConformanceCatches,
                         ::testing::Values(Bug{"rms_norm_n_minus_1", "rms_norm"},
                                           Bug{"matmul_f32_low_prec", "matmul"},
                                           Bug{"attention_next_row", "attention"},
                                           Bug{"matmul_skips_last_block", "matmul"}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// The other direction: ways other backends legitimately compute the ops must pass.
class ConformanceAccepts : public Conformance, public ::testing::WithParamInterface<Bug> {};

TEST_P(ConformanceAccepts, LegitimateAlternativeNumerics) {
    ::setenv("LLAMUX_TEST_VARIANT", GetParam().name, 1);
    auto backend = backend_in(test::test_plugin_dir("faulty-numerics"), "faulty_numerics");
    ASSERT_NE(backend, nullptr);
    ConformanceOptions o;
    o.op = GetParam().op;
    const ConformanceReport report = run_conformance(*backend, o);
    EXPECT_GT(report.passed(), 0u);
    EXPECT_EQ(report.failed(), 0u) << failures(report);
}

INSTANTIATE_TEST_SUITE_P(Variants, ConformanceAccepts,
                         ::testing::Values(Bug{"matmul_float_activations", "matmul"},
                                           Bug{"attention_online_softmax", "attention"},
                                           Bug{"rope_powf", "rope"},
                                           Bug{"rms_norm_float_sum", "rms_norm"},
                                           Bug{"swiglu_tanh", "swiglu"}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// A bf16 GEMM keeps the precision of quantized and BF16 weights, not of F32 ones.
TEST_F(Conformance, Bf16MatmulPassesForQuantizedWeightsAndIsFlaggedForF32) {
    ::setenv("LLAMUX_TEST_VARIANT", "matmul_bf16", 1);
    auto backend = backend_in(test::test_plugin_dir("faulty-numerics"), "faulty_numerics");
    ASSERT_NE(backend, nullptr);
    ConformanceOptions o;
    o.op = "matmul";
    const ConformanceReport report = run_conformance(*backend, o);
    size_t f32_failures = 0;
    for (const auto& r : report.results) {
        const bool float_weight = r.dtypes.rfind("f32 ", 0) == 0 || r.dtypes.rfind("f16 ", 0) == 0;
        if (r.status == CaseStatus::failed) {
            EXPECT_TRUE(float_weight) << r.dtypes << " " << r.message;
        }
        f32_failures += r.status == CaseStatus::failed && r.dtypes.rfind("f32 ", 0) == 0;
    }
    EXPECT_GT(f32_failures, 0u);
}

// A plugin built by another part of the tree, run when its file is there and its probe
// says it can run here; skipped with the reason otherwise.
void run_optional_plugin(const fs::path& file) {
    const std::string file_name = file.filename().string();
    if (!fs::exists(file)) GTEST_SKIP() << file << " is not built";
    const auto registry = PluginRegistry::discover(only({}, {file}));
    if (registry.plugins().empty()) {
        ASSERT_EQ(registry.attempts().size(), 1u);
        const std::string& why = registry.attempts().front().message;
        if (why.rfind("cannot run here", 0) == 0) GTEST_SKIP() << file_name << ": " << why;
        FAIL() << file_name << " does not load: " << why;
    }
    auto backend = Backend::create(registry.plugins().front(), {});
    const ConformanceReport report = run_conformance(*backend, {});
    EXPECT_EQ(report.failed(), 0u) << failures(report);
    EXPECT_GT(report.passed(), 0u) << file_name << " declined every case";
}

TEST_F(Conformance, OneDnnPluginWhenBuilt) { run_optional_plugin(test::plugin_dir() / "libllamux_backend_onednn.so"); }

TEST_F(Conformance, CudaPluginWhenAGpuIsPresent) {
    run_optional_plugin(test::plugin_dir() / "libllamux_backend_cuda.so");
}

// The CUDA plugin's code built for the CPU (backends/cuda/emulator): its kernels on every
// machine, GPU or not.
TEST_F(Conformance, CudaPluginOnTheEmulatedGpu) {
    run_optional_plugin(test::build_dir() / "cuda-emulator" / "lib" / "llamux" / "plugins" /
                        "libllamux_backend_cuda.so");
}

TEST_F(Conformance, CommandPrintsTheTableAndExitsNonZeroOnFailure) {
    const auto ok = test::run_command({test::llamux_exe().string(), "test-backend", "example",
                                       "--plugin-dir", test::test_plugin_dir("example").string()});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_THAT(ok.out, HasSubstr("rms_norm"));
    EXPECT_THAT(ok.out, HasSubstr("0 failed"));
    EXPECT_THAT(ok.out, HasSubstr("declined (run by the host backend instead)"));
    EXPECT_THAT(ok.out, ::testing::Not(HasSubstr("matmul")));  // declined cases are not listed

    const auto bad = test::run_command({test::llamux_exe().string(), "test-backend", "faulty_unsupported",
                                        "--plugin-dir", test::test_plugin_dir("faulty-unsupported").string(),
                                        "--op", "rope"});
    EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
    EXPECT_THAT(bad.out, HasSubstr("FAIL"));
    EXPECT_THAT(bad.out, HasSubstr("claimed by supports_node"));

    const auto missing = test::run_command({test::llamux_exe().string(), "test-backend", "warp_drive"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_THAT(missing.err, HasSubstr("backend warp_drive: no usable plugin"));
}

}  // namespace
}  // namespace llamux
