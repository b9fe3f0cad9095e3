// The CPU plugin's weights: a weight whose type has a repacked form (Q4_0, Q4_1, Q8_0 on
// AVX-512 CPUs) is copied into its repacked layout only when a program that multiplies with
// it is compiled, so a weight that only get_rows reads (the token embedding) is never
// copied; with LLAMUX_CPU_HUGE_PAGES=1 the other large matrices are copied as they are.
// Results are the reference's either way.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cpu_backend.hpp"
#include "host_tensors.hpp"
#include "kernels/kernels.hpp"
#include "llamux/backend.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

std::shared_ptr<Backend> cpu_backend() {
    static auto* plugin =
        new std::shared_ptr<Plugin>(Plugin::load(test::plugin_dir() / "libllamux_backend_cpu.so"));
    BackendOptions options;
    options.n_threads = 2;
    return Backend::create(*plugin, options);
}

// dst of `node` on the backend (compiled into `program`), and the reference's.
std::vector<float> run(Backend& backend, const BackendProgram& program, test::HostTensor& dst) {
    dst.fill_bytes(0xFF);
    backend.execute(program, test::exec_args(0), "test");
    backend.synchronize();
    return dst.to_f32();
}
std::vector<float> reference(const lmx_node& node, test::HostTensor& dst) {
    std::string error;
    EXPECT_EQ(run_node_ref(node, test::exec_args(0), &error), LMX_OK) << error;
    return dst.to_f32();
}

class CpuWeights : public ::testing::TestWithParam<DType> {};

TEST_P(CpuWeights, RepackedOnlyWhenAMatmulReadsThem) {
    const DType type = GetParam();
    const bool repacks = cpu::kernels_for(type, cpu::detect_isa())->packed_gemv != nullptr;
    std::mt19937 rng(5);
    test::HostTensor w("w", type, {64, 48}, 0, LMX_ROLE_WEIGHT);
    w.fill_uniform(rng, -1.0f, 1.0f);
    test::HostTensor ids("ids", DType::I32, {3}, 0, LMX_ROLE_INPUT);
    ids.from_i32({7, 0, 47});
    test::HostTensor rows("rows", DType::F32, {64, 3});
    test::HostTensor x("x", DType::F32, {64, 5});
    x.fill_uniform(rng, -1.0f, 1.0f);
    test::HostTensor y("y", DType::F32, {48, 5});
    const lmx_node get_rows = test::make_node(LMX_OP_GET_ROWS, rows, {w, ids});
    const lmx_node matmul = test::make_node(LMX_OP_MATMUL, y, {w, x});
    const std::vector<float> rows_ref = reference(get_rows, rows);
    const std::vector<float> y_ref = reference(matmul, y);

    auto backend = cpu_backend();
    backend->prepare_weight(*w.get(), w.get()->data);
    EXPECT_EQ(w.get()->extra, nullptr) << "repacked at prepare_weight";

    const BackendProgram lookup = backend->compile(&get_rows, 1, "get_rows");
    EXPECT_EQ(w.get()->extra, nullptr) << "repacked for a get_rows";
    EXPECT_EQ(run(*backend, lookup, rows), rows_ref);

    const BackendProgram product = backend->compile(&matmul, 1, "matmul");
    void* const repacked = w.get()->extra;
    EXPECT_EQ(repacked != nullptr, repacks) << cpu::isa_name(cpu::detect_isa());
    EXPECT_LE(test::relative_row_error(run(*backend, product, y), y_ref), 1e-5);
    // The original still serves get_rows; a second program reuses the copy.
    EXPECT_EQ(run(*backend, lookup, rows), rows_ref);
    const BackendProgram again = backend->compile(&matmul, 1, "matmul");
    EXPECT_EQ(w.get()->extra, repacked);

    backend->release_weight(*w.get());
    EXPECT_EQ(w.get()->extra, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Types, CpuWeights,
                         ::testing::Values(DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::F16),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// Weights of at least a huge page that have no repacked form are copied as they are with
// LLAMUX_CPU_HUGE_PAGES=1 (else read from the mapping); a resident copy starts on a
// huge-page boundary; either way the product is the reference's.
class LargeCpuWeights : public ::testing::TestWithParam<std::tuple<DType, bool>> {};

TEST_P(LargeCpuWeights, CopiedWhenAskedOrRepacked) {
    const auto [type, copy_enabled] = GetParam();
    const bool repacks = cpu::kernels_for(type, cpu::detect_isa())->packed_gemv != nullptr;
    const bool copies = !repacks && copy_enabled;
    std::mt19937 rng(9);
    test::HostTensor w("w", type, {2048, 2048}, 0, LMX_ROLE_WEIGHT);
    w.fill_uniform(rng, -1.0f, 1.0f);
    ASSERT_GE(w.get()->nb[2], cpu::kHugePageBytes);  // big enough to be copied
    test::HostTensor x("x", DType::F32, {2048, 3});
    x.fill_uniform(rng, -1.0f, 1.0f);
    test::HostTensor y("y", DType::F32, {2048, 3});
    const lmx_node matmul = test::make_node(LMX_OP_MATMUL, y, {w, x});
    const std::vector<float> y_ref = reference(matmul, y);

    if (copy_enabled) setenv("LLAMUX_CPU_HUGE_PAGES", "1", 1);
    auto backend = cpu_backend();
    unsetenv("LLAMUX_CPU_HUGE_PAGES");
    backend->prepare_weight(*w.get(), w.get()->data);
    const BackendProgram product = backend->compile(&matmul, 1, "matmul");
    const cpu::ResidentWeight* resident = cpu::resident(*w.get());
    ASSERT_EQ(resident != nullptr, repacks || copies);
    if (resident) {
        EXPECT_EQ(resident->repacked, repacks);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(resident->memory.data()) % cpu::kHugePageBytes, 0u);
    }
    EXPECT_EQ(w.get()->data, static_cast<void*>(w.bytes())) << "the host's pointer is kept";
    EXPECT_LE(test::relative_row_error(run(*backend, product, y), y_ref), 1e-5);
    backend->release_weight(*w.get());
    EXPECT_EQ(w.get()->extra, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Types, LargeCpuWeights,
                         ::testing::Combine(::testing::Values(DType::F16, DType::Q4_0, DType::Q4_K,
                                                              DType::Q6_K),
                                            ::testing::Bool()),
                         [](const auto& p) {
                             return std::string(dtype_name(std::get<0>(p.param))) +
                                    (std::get<1>(p.param) ? "_huge_pages" : "_default");
                         });

}  // namespace
}  // namespace llamux
