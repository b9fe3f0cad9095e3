// The CUDA backend plugin's loading and probe, which are checked wherever it was built, and
// single nodes through it against the reference ops: every weight type of the matmul at one
// and several columns, exact dequantization through get_rows, attention with GQA over a
// partly filled cache (the one-block and the split kernels), rope, norms, the elementwise
// ops, the KV store. Tests that need a GPU skip without one (the probe's reason: "no CUDA
// device: ...") and always run in test_cuda_backend_emulated (docs/backends/cuda.md).
#include <gmock/gmock.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

#include "cuda_test_support.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/session.hpp"
#include "session_helpers.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using namespace cuda_test;

TEST(CudaBackend, PluginLoadsAndProbes) {
    LLAMUX_REQUIRE_CUDA_BUILD();
    const auto plugin = cuda_plugin();
    EXPECT_EQ(plugin->api().abi_version, LMX_ABI_VERSION);
    EXPECT_EQ(plugin->name(), "cuda");
    const lmx_probe_result& probe = plugin->probe();
    if (probe.score > 0) {
        EXPECT_GT(probe.n_devices, 0);
        EXPECT_GT(probe.memory_total, 0u);
        EXPECT_GT(probe.memory_free, 0u);
        EXPECT_THAT(std::string(probe.device), ::testing::HasSubstr("sm_"));
    } else {
        // No GPU (or one this build has no code for): the reason says which.
        EXPECT_THAT(std::string(probe.reason),
                    ::testing::AnyOf(::testing::StartsWith("no CUDA device: "),
                                     ::testing::HasSubstr("sm_")));
    }
}

// -ngl with no usable GPU: the session warns and runs everything on the CPU backend, with
// the reference's greedy text. (With a GPU the -ngl tests below cover it.)
TEST(CudaBackend, NglWithoutGpuRunsOnTheCpu) {
    LLAMUX_REQUIRE_CUDA_BUILD();
    if (cuda_plugin()->probe().score > 0) GTEST_SKIP() << "a GPU is present: see CudaSession";
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    auto model = Model::load(model_path.string());
    SessionOptions options;
    options.placement.n_gpu_layers = 99;
    options.plugins.env_path = false;
    Session session(model, options);
    const auto& backends = session.plan(1, false).node_backends();
    EXPECT_EQ(std::count(backends.begin(), backends.end(), "cpu"),
              static_cast<std::ptrdiff_t>(backends.size()));
    const std::vector<float> logits = session.decode(ref.prompt_tokens, true);
    EXPECT_LE(test::relative_row_error(
                  std::vector<float>(logits.end() - ref.n_vocab, logits.end()), ref.logits.back()),
              1e-3);
}


// ---- single nodes through the plugin ------------------------------------------------------

// Runs one node on a fresh cuda backend: weights prepared, other sources and dst uploaded
// (dst too, so that rows a node leaves alone can be compared), the node compiled and
// executed with n_past; returns dst as floats.
std::vector<float> run_on_gpu(const lmx_node& host_node, int32_t n_past) {
    auto backend = Backend::create(cuda_plugin(), BackendOptions{});
    std::deque<lmx_tensor> device;  // stable addresses for the node
    std::vector<BackendBuffer> buffers;
    std::vector<lmx_tensor*> weights;
    auto upload = [&](const lmx_tensor& h) -> lmx_tensor* {
        lmx_tensor& d = device.emplace_back(h);
        d.data = nullptr;
        d.extra = nullptr;
        if (h.role == LMX_ROLE_WEIGHT) {
            backend->prepare_weight(d, h.data);
            weights.push_back(&d);
        } else {
            const size_t size = h.nb[3] * static_cast<size_t>(h.ne[3]);
            buffers.push_back(backend->allocate(size));
            d.data = buffers.back().base();
            backend->write(d, h.data, 0, size);
        }
        return &d;
    };
    lmx_node node = host_node;
    for (auto& s : node.src) {
        if (s) s = upload(*s);
    }
    node.dst = upload(*host_node.dst);
    backend->synchronize();
    EXPECT_TRUE(backend->supports(node));
    std::vector<std::byte> out(host_node.dst->nb[3] * static_cast<size_t>(host_node.dst->ne[3]));
    {
        BackendProgram program = backend->compile(&node, 1, "test node");
        lmx_exec_args args{};
        args.struct_size = sizeof(args);
        args.n_past = n_past;
        backend->execute(program, args, "test node");
        backend->synchronize();
        backend->read(*node.dst, out.data(), 0, out.size());
    }
    for (lmx_tensor* w : weights) backend->release_weight(*w);
    return as_floats(*host_node.dst, out.data());
}

// The reference result of the node (run on a copy of dst so that the inputs stay as they were).
std::vector<float> run_on_host(const lmx_node& node, int32_t n_past) {
    lmx_exec_args args{};
    args.struct_size = sizeof(args);
    args.n_past = n_past;
    std::string error;
    EXPECT_EQ(run_node_ref(node, args, &error), LMX_OK) << error;
    return as_floats(*node.dst, node.dst->data);
}

// Matmul of every weight type, one column (the matrix-vector kernels) and seven (cuBLAS),
// against the reference op, which rounds x to the weight's vec_dot_type (Q8_0 / Q8_K) as the
// GPU does too (cuda_activations.cu): the activations are then identical, and what is left
// is the order of the sums and f16 rounding (weights expanded to f16, cuBLAS operands):
// ~2^-11 relative per product, and the row's largest value stands ~3 sigma above the typical
// one, so a row error above 2e-3 means a wrong kernel, not rounding.
class CudaMatmul : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(CudaMatmul, MatchesReference) {
    LLAMUX_REQUIRE_GPU();
    const auto [dtype, M] = GetParam();
    const int64_t K = 512, N = 136;
    auto w = make_tensor("w", dtype, LMX_ROLE_WEIGHT, {K, N, 1, 1});
    auto x = make_tensor("x", DType::F32, LMX_ROLE_ACTIVATION, {K, M, 1, 1});
    auto y = make_tensor("y", DType::F32, LMX_ROLE_ACTIVATION, {N, M, 1, 1});
    fill_random(*w, 1);
    fill_random(*x, 2);
    lmx_node node{};
    node.op = LMX_OP_MATMUL;
    node.src[0] = &w->t;
    node.src[1] = &x->t;
    node.dst = &y->t;
    const std::vector<float> gpu = run_on_gpu(node, 0);
    const std::vector<float> expected = run_on_host(node, 0);
    EXPECT_LE(test::relative_row_error(gpu, expected), 2e-3) << dtype_name(dtype) << " M=" << M;
}

INSTANTIATE_TEST_SUITE_P(
    AllWeightTypes, CudaMatmul,
    ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1,
                                         DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                                         DType::Q4_K, DType::Q5_K, DType::Q6_K),
                       ::testing::Values(int64_t{1}, int64_t{7})),
    [](const auto& p) {
        return std::string(dtype_name(std::get<0>(p.param))) + "_M" +
               std::to_string(std::get<1>(p.param));
    });

// get_rows reads a table as stored on the GPU: for the types kept quantized it decodes
// the blocks with the kernels' decode_unit, which must equal dequantize_row_ref exactly.
class CudaGetRows : public ::testing::TestWithParam<DType> {};

TEST_P(CudaGetRows, DecodesExactly) {
    LLAMUX_REQUIRE_GPU();
    const DType dtype = GetParam();
    const int64_t n = 512, vocab = 40, n_tok = 6;
    auto table = make_tensor("table", dtype, LMX_ROLE_WEIGHT, {n, vocab, 1, 1});
    auto ids = make_tensor("ids", DType::I32, LMX_ROLE_INPUT, {n_tok, 1, 1, 1});
    auto dst = make_tensor("rows", DType::F32, LMX_ROLE_ACTIVATION, {n, n_tok, 1, 1});
    fill_random(*table, 3, 2.0f);
    const int32_t id_values[] = {0, 39, 7, 7, 21, 1};
    std::memcpy(ids->bytes.data(), id_values, sizeof id_values);
    lmx_node node{};
    node.op = LMX_OP_GET_ROWS;
    node.src[0] = &table->t;
    node.src[1] = &ids->t;
    node.dst = &dst->t;
    const std::vector<float> gpu = run_on_gpu(node, 0);
    const std::vector<float> ref = run_on_host(node, 0);
    EXPECT_EQ(gpu, ref) << dtype_name(dtype);
}

INSTANTIATE_TEST_SUITE_P(StoredTypes, CudaGetRows,
                         ::testing::Values(DType::F32, DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_K,
                                           DType::Q5_K, DType::Q6_K),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// An attention node over random q and caches: n_head heads of head_dim D sharing n_head_kv
// KV heads, n_tok queries, a cache of n_ctx rows.
struct AttentionFixture {
    std::unique_ptr<HostTensor> q, k, v, out;
    lmx_node node{};
    AttentionFixture(int64_t D, int64_t n_tok, int64_t n_head, int64_t n_head_kv, int64_t n_ctx, DType cache_type) {
        q = make_tensor("q", DType::F32, LMX_ROLE_ACTIVATION, {D, n_head, n_tok, 1});
        k = make_tensor("cache_k", cache_type, LMX_ROLE_KV_CACHE, {D * n_head_kv, n_ctx, 1, 1});
        v = make_tensor("cache_v", cache_type, LMX_ROLE_KV_CACHE, {D * n_head_kv, n_ctx, 1, 1});
        out = make_tensor("attn", DType::F32, LMX_ROLE_ACTIVATION, {D * n_head, n_tok, 1, 1});
        fill_random(*q, 4, 0.5f);
        fill_random(*k, 5);
        fill_random(*v, 6);
        node.op = LMX_OP_ATTENTION;
        node.src[0] = &q->t;
        node.src[1] = &k->t;
        node.src[2] = &v->t;
        node.dst = &out->t;
        node.iparams[0] = static_cast<int32_t>(n_head);
        node.iparams[1] = static_cast<int32_t>(n_head_kv);
        node.fparams[0] = 1.0f / std::sqrt(static_cast<float>(D));
    }
};

// Head size, queries and cache rows filled before them.
struct AttentionCase {
    int64_t D, n_tok;
    int32_t n_past;
};

// Attention over a cache with rows already filled (n_past > 0), GQA (8 heads, 2 kv heads),
// head_dim 128, three new tokens, a cache of 300 rows. Bound: the reference sums in double
// where we sum in f32, and rounds each probability to f16 from a double-based
// normalisation: a flipped f16 rounding moves an output by < 2^-11 of one term.
// Each attention kernel: a few queries (token generation; one query over 291 rows, past the
// f16 decode kernel's first batch of 256 rows per thread group), a prompt that spans several
// query tiles and cache chunks (tensor-core kernel on f16, tiled kernel on f32; partial last
// tile), a small head, a head that is no multiple of 16 (tiled kernel on f16 too), and a
// head too wide for either.
TEST(CudaOps, AttentionMatchesReference) {
    LLAMUX_REQUIRE_GPU();
    for (const AttentionCase& c : {AttentionCase{128, 3, 200}, AttentionCase{128, 1, 290}, AttentionCase{128, 37, 50},
                                   AttentionCase{64, 20, 0}, AttentionCase{72, 10, 30}, AttentionCase{256, 9, 70}}) {
        for (DType cache_type : {DType::F16, DType::F32}) {
            const AttentionFixture f(c.D, c.n_tok, 8, 2, 300, cache_type);
            const std::vector<float> gpu = run_on_gpu(f.node, c.n_past);
            const std::vector<float> ref = run_on_host(f.node, c.n_past);
            EXPECT_LE(test::relative_row_error(gpu, ref), 1e-3)
                << dtype_name(cache_type) << " D=" << c.D << " n_tok=" << c.n_tok << " n_past=" << c.n_past;
        }
    }
}

// Token generation's attention split along the cache (cuda_attention_split.cu; the backend
// takes it from LLAMUX_CUDA_SPLIT_ATTENTION_FROM cache rows on, 0 here): blocks of 256 rows,
// the last one partial, one block alone, queries whose rows end on both sides of a block
// boundary (n_kv 1021 to 1024 and 1025), GQA, heads of 8 to 128. Against the reference
// (bound as above) and against the one-block kernel: the same scores and probabilities
// but for the sum of the exponentials, folded block by block (an f16 rounding of a
// probability may flip: 2^-11 of one term).
TEST(CudaOps, SplitAttentionMatchesReference) {
    LLAMUX_REQUIRE_GPU();
    for (const AttentionCase& c : {AttentionCase{128, 1, 700}, AttentionCase{128, 4, 1020}, AttentionCase{128, 2, 1023},
                                   AttentionCase{64, 2, 0}, AttentionCase{8, 1, 513}, AttentionCase{32, 3, 255}}) {
        const AttentionFixture f(c.D, c.n_tok, 8, 2, 1100, DType::F16);
        const auto run_from = [&](const char* rows) {
            const ScopedEnv from("LLAMUX_CUDA_SPLIT_ATTENTION_FROM", rows);
            return run_on_gpu(f.node, c.n_past);
        };
        const std::vector<float> split = run_from("0"), whole = run_from("1000000");
        const std::vector<float> ref = run_on_host(f.node, c.n_past);
        const std::string what = "D=" + std::to_string(c.D) + " n_tok=" + std::to_string(c.n_tok) +
                                 " n_past=" + std::to_string(c.n_past);
        EXPECT_LE(test::relative_row_error(split, ref), 1e-3) << what;
        EXPECT_LE(test::relative_row_error(split, whole), 1e-4) << what;
    }
}

// Rope of q-shaped input at positions far from zero (angles of hundreds of radians).
TEST(CudaOps, RopeMatchesReference) {
    LLAMUX_REQUIRE_GPU();
    const int64_t D = 128, n_head = 4, n_tok = 5;
    auto x = make_tensor("x", DType::F32, LMX_ROLE_ACTIVATION, {D, n_head, n_tok, 1});
    auto pos = make_tensor("pos", DType::I32, LMX_ROLE_INPUT, {n_tok, 1, 1, 1});
    auto y = make_tensor("y", DType::F32, LMX_ROLE_ACTIVATION, {D, n_head, n_tok, 1});
    fill_random(*x, 7);
    const int32_t positions[] = {0, 1, 17, 511, 3000};
    std::memcpy(pos->bytes.data(), positions, sizeof positions);
    lmx_node node{};
    node.op = LMX_OP_ROPE;
    node.src[0] = &x->t;
    node.src[1] = &pos->t;
    node.dst = &y->t;
    node.iparams[0] = 96;  // n_rot < head_dim: the last 32 dims are copied
    node.fparams[0] = 10000.0f;
    node.fparams[1] = 1.0f;
    // cosf/sinf on the GPU are within 2 ulp; the angles themselves agree to the bit.
    EXPECT_LE(test::relative_row_error(run_on_gpu(node, 0), run_on_host(node, 0)), 1e-5);
}

// The row-wise ops, on shapes with rows of 4096 and 172 elements (stories260K's ffn).
TEST(CudaOps, RowOpsMatchReference) {
    LLAMUX_REQUIRE_GPU();
    for (int64_t n : {int64_t{4096}, int64_t{172}}) {
        const int64_t rows = 5;
        auto a = make_tensor("a", DType::F32, LMX_ROLE_ACTIVATION, {n, rows, 1, 1});
        auto b = make_tensor("b", DType::F32, LMX_ROLE_ACTIVATION, {n, rows, 1, 1});
        auto w = make_tensor("norm_w", DType::F32, LMX_ROLE_WEIGHT, {n, 1, 1, 1});
        auto y = make_tensor("y", DType::F32, LMX_ROLE_ACTIVATION, {n, rows, 1, 1});
        auto h = make_tensor("y16", DType::F16, LMX_ROLE_ACTIVATION, {n, rows, 1, 1});
        fill_random(*a, 8, 4.0f);
        fill_random(*b, 9);
        fill_random(*w, 10);
        for (lmx_op op : {LMX_OP_RMS_NORM, LMX_OP_SWIGLU, LMX_OP_ADD, LMX_OP_COPY}) {
            lmx_node node{};
            node.op = op;
            node.src[0] = &a->t;
            node.src[1] = op == LMX_OP_RMS_NORM ? &w->t : op == LMX_OP_COPY ? nullptr : &b->t;
            node.dst = op == LMX_OP_COPY ? &h->t : &y->t;
            node.fparams[0] = 1e-5f;
            // f32 arithmetic in another order (norm: sum in f32, not double); copy to f16 is exact.
            EXPECT_LE(test::relative_row_error(run_on_gpu(node, 0), run_on_host(node, 0)), 1e-5)
                << op_name(op) << " n=" << n;
        }
    }
}

// KV store into rows n_past.. of an f16 cache from the roped-k view shape; rows before and
// after keep their contents. The conversion rounds to nearest even like f32_to_f16: exact.
TEST(CudaOps, KvStoreWritesTheRightRows) {
    LLAMUX_REQUIRE_GPU();
    const int64_t D = 64, n_head_kv = 4, n_tok = 3, n_ctx = 16;
    auto src = make_tensor("k_rope", DType::F32, LMX_ROLE_ACTIVATION, {D, n_head_kv, n_tok, 1});
    auto cache = make_tensor("cache_k", DType::F16, LMX_ROLE_KV_CACHE, {D * n_head_kv, n_ctx, 1, 1});
    fill_random(*src, 11);
    fill_random(*cache, 12);
    lmx_node node{};
    node.op = LMX_OP_KV_STORE;
    node.src[0] = &src->t;
    node.dst = &cache->t;
    const std::vector<float> gpu = run_on_gpu(node, 9);
    EXPECT_EQ(gpu, run_on_host(node, 9));
}

}  // namespace
}  // namespace llamux
