// The CPU plugin's attention on shapes the model fixtures do not reach: 8 and 32 query heads
// per KV head (blocks of several tokens x heads, heads split across items), head_dim 80 and
// 128 (several column passes), a long cache with n_past > 0, one token (decode), F16, F32,
// quantized and mixed caches; decode steps with one to four query heads per KV head, which AVX-512
// CPUs run with keys in the lanes; blocks of 8 lanes for AVX2 CPUs. Each runs with 1, 2 and 3 threads:
//  - the thread counts agree to the bit (each output row is computed in one fixed order);
//  - the result is within 1e-3 of the reference (rows relative to their largest value): the
//    reference sums in double where the plugin sums in float, and a probability that rounds
//    to the other f16 neighbour moves an output by < 2^-11 of one term.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "host_tensors.hpp"
#include "llamux/backend.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

struct Shape {
    int64_t head_dim, n_head, n_head_kv, n_tok, n_ctx;
    int32_t n_past;
    DType k_type, v_type;
};

std::string label(const Shape& s) {
    return "hd=" + std::to_string(s.head_dim) + " heads=" + std::to_string(s.n_head) + "/" +
           std::to_string(s.n_head_kv) + " tok=" + std::to_string(s.n_tok) +
           " past=" + std::to_string(s.n_past) + " k=" + std::string(dtype_name(s.k_type)) +
           " v=" + std::string(dtype_name(s.v_type));
}

std::shared_ptr<Plugin> cpu_plugin() {
    static auto* plugin =
        new std::shared_ptr<Plugin>(Plugin::load(test::plugin_dir() / "libllamux_backend_cpu.so"));
    return *plugin;
}

// dst of the node run on a CPU backend of n_threads, in place on the host tensors.
std::vector<float> run_on_cpu(const lmx_node& node, test::HostTensor& dst, int32_t n_past,
                              int32_t n_threads) {
    BackendOptions options;
    options.n_threads = n_threads;
    auto backend = Backend::create(cpu_plugin(), options);
    EXPECT_TRUE(backend->supports(node));
    dst.fill_bytes(0xFF);  // NaNs wherever the backend does not write
    BackendProgram program = backend->compile(&node, 1, "attention");
    backend->execute(program, test::exec_args(n_past), "attention");
    backend->synchronize();
    return dst.to_f32();
}

class CpuAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(CpuAttention, ThreadCountsAgreeAndMatchReference) {
    const Shape s = GetParam();
    std::mt19937 rng(7);
    test::HostTensor q("q", DType::F32, {s.head_dim, s.n_head, s.n_tok});
    test::HostTensor k("cache_k", s.k_type, {s.head_dim * s.n_head_kv, s.n_ctx}, 0,
                       LMX_ROLE_KV_CACHE);
    test::HostTensor v("cache_v", s.v_type, {s.head_dim * s.n_head_kv, s.n_ctx}, 0,
                       LMX_ROLE_KV_CACHE);
    test::HostTensor out("attn", DType::F32, {s.head_dim * s.n_head, s.n_tok});
    q.fill_uniform(rng, -2.0f, 2.0f);
    k.fill_uniform(rng, -2.0f, 2.0f);
    v.fill_uniform(rng, -1.0f, 1.0f);
    const lmx_node node = test::make_node(
        LMX_OP_ATTENTION, out, {q, k, v},
        {static_cast<int32_t>(s.n_head), static_cast<int32_t>(s.n_head_kv)},
        {1.0f / std::sqrt(static_cast<float>(s.head_dim))});

    std::string error;
    ASSERT_EQ(run_node_ref(node, test::exec_args(s.n_past), &error), LMX_OK) << error;
    const std::vector<float> ref = out.to_f32();
    const std::vector<float> one = run_on_cpu(node, out, s.n_past, 1);
    EXPECT_LE(test::relative_row_error(one, ref), 1e-3) << label(s);
    for (int32_t n_threads : {2, 3}) {
        const std::vector<float> many = run_on_cpu(node, out, s.n_past, n_threads);
        EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * sizeof(float)))
            << label(s) << ", " << n_threads << " threads";
    }
}

constexpr DType F16 = DType::F16, F32 = DType::F32, BF16 = DType::BF16;
constexpr DType Q8_0 = DType::Q8_0, Q4_0 = DType::Q4_0, Q4_1 = DType::Q4_1, Q5_0 = DType::Q5_0, Q5_1 = DType::Q5_1;

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuAttention,
    ::testing::Values(Shape{64, 32, 4, 37, 160, 100, F16, F16},  // TinyLlama, a prompt chunk
                      Shape{64, 32, 4, 1, 300, 250, F16, F16},   // TinyLlama, decode
                      Shape{128, 8, 2, 19, 64, 0, F32, F32},
                      Shape{80, 4, 4, 21, 40, 3, F16, F32},
                      Shape{32, 32, 1, 3, 50, 40, F32, F16},
                      Shape{64, 8, 8, 1, 90, 80, F16, F16},
                      Shape{24, 6, 2, 9, 30, 5, F16, F16},  // head_dim not a multiple of 16
                      Shape{64, 8, 2, 7, 30, 11, BF16, BF16},
                      // Decode rows of few heads per KV head (AVX-512: keys in the lanes):
                      Shape{128, 4, 4, 1, 200, 150, F16, F16},  // Llama-2-7B's heads
                      Shape{80, 4, 2, 2, 40, 17, F32, F16},     // 5 pieces of 16
                      Shape{256, 2, 2, 1, 50, 33, F16, F32},    // two passes over V
                      // Quantized caches (-ctk/-ctv), through the same kernels:
                      Shape{64, 32, 4, 37, 160, 100, Q8_0, Q8_0},  // a prompt chunk
                      Shape{96, 8, 2, 9, 40, 5, Q4_1, Q5_1},       // V in passes of 64 and 32
                      Shape{64, 32, 4, 1, 300, 250, Q5_1, F16},    // TinyLlama, decode
                      Shape{128, 4, 4, 1, 200, 150, Q4_0, Q4_0},   // Llama-2-7B's heads, decode
                      Shape{96, 4, 2, 2, 40, 17, F16, Q4_1},       // keys in the lanes, 3 blocks
                      Shape{256, 2, 2, 1, 50, 33, Q5_0, Q8_0},     // two passes over V
                      Shape{64, 8, 2, 3, 30, 4, BF16, Q8_0},       // the one-row kernel
                      // AVX2 blocks of 8 lanes: a group of 8 heads (TinyLlama) at decode,
                      // groups of 1 and 3 over several tokens, 13 keys past a block of 8:
                      Shape{64, 16, 2, 1, 77, 70, F16, F16},
                      Shape{48, 2, 2, 11, 40, 2, F32, F16},
                      Shape{16, 6, 2, 5, 20, 8, F16, F32},
                      Shape{32, 8, 1, 2, 24, 3, Q5_0, Q4_0}),  // V passes inside a block
    [](const auto& param_info) { return "case" + std::to_string(param_info.index); });

}  // namespace
}  // namespace llamux
