// The CUDA backend plugin. Where it was built, its loading and probe are checked everywhere;
// everything that needs a GPU skips with the probe's reason ("no CUDA device: ...") on a
// machine without one (CI, the build machines) and runs on a machine with one:
//  - single nodes through the plugin against the reference ops (every weight type of the
//    matmul at one and several columns, exact dequantization through get_rows, attention
//    with GQA over a partly filled cache, rope, norms, the elementwise ops, kv store);
//  - every fixture model through llamux::Session at every -ngl from 0 to n_layer + 1:
//    logits within the bounds below of llama.cpp's reference, and stories260K's greedy
//    tokens identical to the reference at every -ngl.
// test_cuda_backend_emulated is this file built beside the plugin compiled for the CPU
// (backends/cuda/emulator, docs/backends/cuda.md): there everything runs, on every machine.
#include <gmock/gmock.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "llamux/backend.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/session.hpp"
#include "session_helpers.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

// backends/cuda/CMakeLists.txt defines LLAMUX_HAVE_CUDA when it builds the plugin.
#ifdef LLAMUX_HAVE_CUDA
#define LLAMUX_REQUIRE_CUDA_BUILD() (void)0
#else
#define LLAMUX_REQUIRE_CUDA_BUILD() \
    GTEST_SKIP() << "built without the CUDA plugin (no CUDA toolkit found, or LLAMUX_CUDA=OFF)"
#endif

// The file sessions will load: the plugin folder beside the binary wins over the installed
// one (as in PluginRegistry); in the build tree that is test::plugin_dir(), in the folder
// scripts/gpu_check.sh assembles it is .device/lib/llamux/plugins.
fs::path cuda_plugin_file() {
    const auto dirs = PluginRegistry::default_dirs();
    for (auto dir = dirs.rbegin(); dir != dirs.rend(); ++dir) {
        if (fs::exists(*dir / "libllamux_backend_cuda.so")) return *dir / "libllamux_backend_cuda.so";
    }
    return test::plugin_dir() / "libllamux_backend_cuda.so";
}

// The plugin, loaded once and never unloaded: sessions load the same file again and get
// the same library, so the CUDA runtime inside it starts once per test process (as in a
// llamux process) instead of once per session.
std::shared_ptr<Plugin> cuda_plugin() {
    static auto* plugin = new std::shared_ptr<Plugin>(Plugin::load(cuda_plugin_file()));
    return *plugin;
}

#ifdef LLAMUX_CUDA_EMULATED
// test_cuda_backend_emulated: the plugin beside it is the emulated one, which runs on every
// machine; not finding it is a failure (else every test would skip and pass).
#define LLAMUX_REQUIRE_GPU()                                                                 \
    ASSERT_GT(cuda_plugin()->probe().score, 0) << "the emulated cuda plugin cannot run: "  \
                                               << cuda_plugin()->probe().reason;             \
    ASSERT_THAT(std::string(cuda_plugin()->probe().device), ::testing::HasSubstr("emulator"))
#else
// Skips the test unless the plugin was built and its probe finds a usable GPU.
#define LLAMUX_REQUIRE_GPU()                                                     \
    LLAMUX_REQUIRE_CUDA_BUILD();                                                 \
    if (cuda_plugin()->probe().score <= 0) {                                     \
        GTEST_SKIP() << "cuda plugin cannot run here: " << cuda_plugin()->probe().reason; \
    }
#endif

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

// A host tensor with its bytes; strides contiguous.
struct HostTensor {
    lmx_tensor t{};
    std::vector<std::byte> bytes;
    std::string name;
};

std::unique_ptr<HostTensor> make_tensor(const std::string& name, DType dtype, lmx_tensor_role role,
                                        std::array<int64_t, 4> ne) {
    auto h = std::make_unique<HostTensor>();
    h->name = name;
    const DTypeInfo& ti = info(dtype);
    h->t.dtype = static_cast<int32_t>(dtype);
    h->t.role = role;
    h->t.name = h->name.c_str();
    for (int k = 0; k < 4; ++k) h->t.ne[k] = ne[static_cast<size_t>(k)];
    h->t.nb[0] = ti.type_size;
    h->t.nb[1] = *row_bytes(dtype, ne[0]);
    h->t.nb[2] = h->t.nb[1] * static_cast<size_t>(ne[1]);
    h->t.nb[3] = h->t.nb[2] * static_cast<size_t>(ne[2]);
    h->bytes.resize(h->t.nb[3] * static_cast<size_t>(ne[3]));
    h->t.data = h->bytes.data();
    return h;
}

// Fills a tensor with values uniform in [-scale, scale], stored as its dtype.
void fill_random(HostTensor& h, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    const int64_t n = h.t.ne[0];
    const int64_t rows = h.t.ne[1] * h.t.ne[2] * h.t.ne[3];
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = dist(rng);
        quantize_row_ref(static_cast<DType>(h.t.dtype), row.data(), h.bytes.data() + r * h.t.nb[1], n);
    }
}

std::vector<float> as_floats(const lmx_tensor& t, const void* data) {
    const int64_t n = t.ne[0], rows = t.ne[1] * t.ne[2] * t.ne[3];
    std::vector<float> out(static_cast<size_t>(n * rows));
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row_ref(static_cast<DType>(t.dtype), static_cast<const char*>(data) + r * t.nb[1],
                           out.data() + r * n, n);
    }
    return out;
}

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

// Sets an environment variable for its lifetime and restores what was there before (a ctest
// run may have set it for the whole process).
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        EXPECT_EQ(setenv(name, value, 1), 0);
    }
    ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

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

// ---- runs of nodes as one program (the plugin's fusions) ------------------------------------

// Runs the nodes as one program on a fresh cuda backend (each tensor uploaded once, the
// way run_on_gpu uploads one node's), twice (the second run replays a CUDA graph where the
// program allows one), and returns the tensors `read` as floats.
std::vector<std::vector<float>> run_program_on_gpu(const std::vector<lmx_node>& host_nodes,
                                                   const std::vector<const lmx_tensor*>& read) {
    auto backend = Backend::create(cuda_plugin(), BackendOptions{});
    std::deque<lmx_tensor> device;
    std::map<const lmx_tensor*, lmx_tensor*> on_device;
    std::vector<BackendBuffer> buffers;
    std::vector<lmx_tensor*> weights;
    auto upload = [&](const lmx_tensor* h) -> lmx_tensor* {
        if (const auto it = on_device.find(h); it != on_device.end()) return it->second;
        lmx_tensor& d = device.emplace_back(*h);
        d.data = nullptr;
        d.extra = nullptr;
        if (h->role == LMX_ROLE_WEIGHT) {
            backend->prepare_weight(d, h->data);
            weights.push_back(&d);
        } else {
            const size_t size = h->nb[3] * static_cast<size_t>(h->ne[3]);
            buffers.push_back(backend->allocate(size));
            d.data = buffers.back().base();
            backend->write(d, h->data, 0, size);
        }
        return on_device[h] = &d;
    };
    std::vector<lmx_node> nodes = host_nodes;
    for (lmx_node& node : nodes) {
        for (auto& s : node.src) {
            if (s) s = upload(s);
        }
        node.dst = upload(node.dst);
        EXPECT_TRUE(backend->supports(node)) << op_name(static_cast<lmx_op>(node.op));
    }
    backend->synchronize();
    std::vector<std::vector<float>> out;
    {
        BackendProgram program = backend->compile(nodes.data(), static_cast<int32_t>(nodes.size()), "test program");
        lmx_exec_args args{};
        args.struct_size = sizeof(args);
        for (int run = 0; run < 2; ++run) backend->execute(program, args, "test program");  // run 2: the graph
        backend->synchronize();
        for (const lmx_tensor* h : read) {
            std::vector<std::byte> bytes(h->nb[3] * static_cast<size_t>(h->ne[3]));
            backend->read(*on_device.at(h), bytes.data(), 0, bytes.size());
            out.push_back(as_floats(*h, bytes.data()));
        }
    }
    for (lmx_tensor* w : weights) backend->release_weight(*w);
    return out;
}

// An activation row of n floats.
std::unique_ptr<HostTensor> act(const std::string& name, int64_t n) {
    return make_tensor(name, DType::F32, LMX_ROLE_ACTIVATION, {n, 1, 1, 1});
}

// A node of the fusion tests (eps 1e-5 for the norms).
lmx_node fusion_node(lmx_op op, lmx_tensor* a, lmx_tensor* b, lmx_tensor* dst) {
    lmx_node n{};
    n.op = op;
    n.src[0] = a;
    n.src[1] = b;
    n.dst = dst;
    n.fparams[0] = 1e-5f;
    return n;
}

// Runs the nodes as one program on the GPU (run_program_on_gpu: twice) and one by one with
// the reference ops (twice too: a residual grows in place), then compares each named tensor.
// 1e-2 of the row's largest value leaves room for an activation landing on the other side
// of a rounding step (~4e-3 each for Q8_0), a wrong fusion gives O(1).
void expect_program_matches_reference(const std::vector<lmx_node>& nodes,
                                      const std::vector<std::pair<const char*, const lmx_tensor*>>& named) {
    std::vector<const lmx_tensor*> read;
    for (const auto& [name, t] : named) read.push_back(t);
    const std::vector<std::vector<float>> gpu = run_program_on_gpu(nodes, read);
    lmx_exec_args args{};
    args.struct_size = sizeof(args);
    for (int run = 0; run < 2; ++run) {
        for (const lmx_node& n : nodes) {
            std::string error;
            ASSERT_EQ(run_node_ref(n, args, &error), LMX_OK) << error;
        }
    }
    for (size_t i = 0; i < read.size(); ++i) {
        EXPECT_LE(test::relative_row_error(gpu[i], as_floats(*read[i], read[i]->data)), 1e-2) << named[i].first;
    }
}

// The second half of a Llama layer and the start of the next, one token, Q4_0 weights, as
// the graph builder orders it: attn_output, the residual add, ffn_norm, gate, up, SwiGLU,
// ffn_down, the add, the next attn_norm and a product on it: 13 launches without fusions,
// 8 at level 3, 6 at 5, 5 at 6 (LLAMUX_CUDA_FUSE; ctest runs it at 3, at 6 in the reverse
// block order, and at 6 with split blocks; gpu_run.sh at 2 to 6). The products ending in
// the add + norm (5) and gate/up ending in the SwiGLU (6) need rows longer than the model
// fixtures' 256 (the norm's last block loops), so n_embd is 1312 (41 blocks of 32, 328
// four-element pieces: two passes of the last block, the second partial) and n_ff 416 (13
// blocks of h, each rounded by the last of its warps).
// Against the reference ops run one by one: the same rounding points, sums in another
// order (1e-7 on the emulator at every level).
TEST(CudaFusions, FfnHalfOfALayerMatchesTheReference) {
    LLAMUX_REQUIRE_GPU();
    const int64_t E = 1312, F = 416;
    const auto weight = [](const std::string& name, int64_t k, int64_t n, uint32_t seed) {
        auto w = make_tensor(name, DType::Q4_0, LMX_ROLE_WEIGHT, {k, n, 1, 1});
        fill_random(*w, seed, 0.1f);
        return w;
    };
    auto wo = weight("wo", E, E, 20), wg = weight("w_gate", E, F, 21), wu = weight("w_up", E, F, 22);
    auto wd = weight("w_down", F, E, 23), wq = weight("wq", E, E, 24);
    auto norm_w1 = make_tensor("ffn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto norm_w2 = make_tensor("attn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto attn = act("attn_out", E), res = act("residual", E), o = act("wo_out", E), n1 = act("ffn_in", E);
    auto g = act("gate", F), u = act("up", F), h = act("ffn_act", F), d = act("down", E), n2 = act("attn_in", E);
    auto q = act("q", E);
    fill_random(*attn, 25);
    fill_random(*res, 26, 4.0f);
    fill_random(*norm_w1, 27);
    fill_random(*norm_w2, 28);
    const std::vector<lmx_node> nodes = {
        fusion_node(LMX_OP_MATMUL, &wo->t, &attn->t, &o->t),
        fusion_node(LMX_OP_ADD, &res->t, &o->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w1->t, &n1->t),
        fusion_node(LMX_OP_MATMUL, &wg->t, &n1->t, &g->t),
        fusion_node(LMX_OP_MATMUL, &wu->t, &n1->t, &u->t),
        fusion_node(LMX_OP_SWIGLU, &g->t, &u->t, &h->t),
        fusion_node(LMX_OP_MATMUL, &wd->t, &h->t, &d->t),
        fusion_node(LMX_OP_ADD, &res->t, &d->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w2->t, &n2->t),
        fusion_node(LMX_OP_MATMUL, &wq->t, &n2->t, &q->t),
    };
    expect_program_matches_reference(
        nodes, {{"SwiGLU", &h->t}, {"residual", &res->t}, {"attn_norm", &n2->t}, {"q", &q->t}});
}

// The norms of a K-quant file round for Q8_K matmuls (blocks of 256, two warps' worth of the
// norm kernels' four-element pieces): attn_output (Q4_K, 256 -> E), the residual add, the
// next attn_norm and a Q4_K product on it. At levels 2 to 4 the add + norm + rounding is one
// launch (the one-row kernel; E = 4352 = 17 blocks takes its second pass of pieces, partly
// filled), at 5 and 6 the product's last block does them (five passes of its 256 pieces, the
// last partial). Bound as in the test above.
TEST(CudaFusions, Q8KRoundingNormMatchesTheReference) {
    LLAMUX_REQUIRE_GPU();
    const int64_t A = 256, E = 4352, N = 64;
    auto wo = make_tensor("wo", DType::Q4_K, LMX_ROLE_WEIGHT, {A, E, 1, 1});
    auto wq = make_tensor("wq", DType::Q4_K, LMX_ROLE_WEIGHT, {E, N, 1, 1});
    fill_random(*wo, 30, 0.1f);
    fill_random(*wq, 31, 0.1f);
    auto norm_w = make_tensor("attn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto attn = act("attn_out", A), o = act("wo_out", E), res = act("residual", E), x = act("attn_in", E);
    auto q = act("q", N);
    fill_random(*attn, 32);
    fill_random(*res, 33, 4.0f);
    fill_random(*norm_w, 34);
    const std::vector<lmx_node> nodes = {
        fusion_node(LMX_OP_MATMUL, &wo->t, &attn->t, &o->t),
        fusion_node(LMX_OP_ADD, &res->t, &o->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w->t, &x->t),
        fusion_node(LMX_OP_MATMUL, &wq->t, &x->t, &q->t),
    };
    expect_program_matches_reference(nodes, {{"residual", &res->t}, {"attn_norm", &x->t}, {"q", &q->t}});
}

// ---- whole models through a session -------------------------------------------------------

// Logit bounds per file, max |ours - reference| over a row divided by the row's largest
// magnitude (docs/backends/cuda.md), from what each path rounds:
// - F32 files: weights stay f32; single tokens run f32 matrix-vector kernels, prompts
//   cuBLAS SGEMM in full f32 (no TF32); attention rounds q and the probabilities to the f16
//   cache type exactly where the reference does. Only summation order and cosf/sinf/expf
//   differ: the fixtures' own 1e-3.
// - F16 files: the reference rounds activations to f16 before its f16 dot products
//   (vec_dot_type), and so do both our paths (matrix-vector and cuBLAS f16 x f16 -> f32):
//   again summation order only, but cuBLAS may split K and sum partial products in an order
//   we do not control: 1e-2, as the issue suggests for f16 GEMMs, leaves room for that.
// - Quantized files: both paths round the activations to the reference's vec_dot_type
//   (Q8_0 / Q8_K) as it does, but that rounding is a step function: an activation that
//   differs from the reference's in its last bit (a different summation order upstream) can
//   land on the other side of a rounding boundary and move by a whole quantization step,
//   ~1/254 of its block's largest value. On these random-weight files such steps add up to
//   ~1e-2 per layer; llama.cpp's own one-token and batched decodes differ by up to 3e-2 on
//   them (docs/numerics.md). Measured (H200 and H100, 2026-11-26): 3.0e-2 (Q8_0) to 5.6e-2
//   (Q6_K) with every layer offloaded, 1e-6 with none. So: 8e-2 for every quantized file,
//   room for other cards' cuBLAS choices; a wrong kernel shows as 0.3 and more (a fusion
//   that read its own output back gave 0.4 to 0.9).
double logit_bound(const std::string& model) {
    static const std::map<std::string, double> bounds = {
        {"stories260K.gguf", 1e-3},       {"stories260K-F16.gguf", 1e-2},
        {"synth-tiny-F32.gguf", 1e-3},    {"synth-tiny-F16.gguf", 1e-2},
        {"synth-tiny-Q8_0.gguf", 8e-2},   {"synth-tiny-Q6_K.gguf", 8e-2},
        {"synth-tiny-Q5_K_M.gguf", 8e-2}, {"synth-tiny-Q5_0.gguf", 8e-2},
        {"synth-tiny-Q4_K_M.gguf", 8e-2}, {"synth-tiny-Q4_1.gguf", 8e-2},
        {"synth-tiny-Q4_0.gguf", 8e-2},   {"synth-tiny-Q3_K_M.gguf", 8e-2},
        {"synth-tiny-Q2_K.gguf", 8e-2},
    };
    const auto it = bounds.find(model);
    return it == bounds.end() ? 0.0 : it->second;
}

SessionOptions gpu_options(int32_t ngl) {
    SessionOptions o;
    o.placement.n_gpu_layers = ngl;
    o.placement.gpu_backend = "cuda";
    o.plugins.env_path = false;
    return o;
}

// -ngl n_layer + 1: every node but the token embedding runs on the GPU, none falls back.
TEST(CudaSession, FullOffloadRunsEveryNodeButTheEmbedding) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    auto model = Model::load(path.string());
    Session session(model, gpu_options(model->hparams().n_layer + 1));
    test::expect_all_but_embedding_on(session, "cuda");
}

// The error of a session with every layer of `model` on the GPU and
// LLAMUX_CUDA_MEMORY_LIMIT_MIB=value; empty if the session starts.
std::string session_error_with_memory_limit(const std::shared_ptr<const Model>& model, const char* value) {
    const ScopedEnv limit("LLAMUX_CUDA_MEMORY_LIMIT_MIB", value);
    std::string message;
    try {
        Session session(model, gpu_options(model->hparams().n_layer + 1));
    } catch (const std::exception& e) {
        message = e.what();
    }
    return message;
}

// Out of GPU memory while loading: the error names the weight that did not fit and what was
// free, and the session adds how many blocks would fit. LLAMUX_CUDA_MEMORY_LIMIT_MIB makes
// the plugin behave as if the GPU had only 1 MiB, less than the file's 1.9 MiB of weights.
TEST(CudaSession, OutOfMemoryAtLoadSaysHowManyBlocksFit) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-Q4_0.gguf");
    const std::string message = session_error_with_memory_limit(Model::load(path.string()), "1");
    std::printf("[ cuda     ] %s\n", message.c_str());
    EXPECT_NE(message.find("cannot allocate"), std::string::npos) << message;
    EXPECT_NE(message.find("free of 1.0 MiB"), std::string::npos) << message;
    EXPECT_NE(message.find("blocks fit, try -ngl"), std::string::npos) << message;
}

// A limit that is not a whole number of MiB stops the session (the plugin's create refuses
// it) with the parser's message; the parsing itself is test_cuda_memory_limit, in CI.
TEST(CudaSession, MalformedMemoryLimitIsRefused) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-Q4_0.gguf");
    const std::string message = session_error_with_memory_limit(Model::load(path.string()), "12x");
    EXPECT_NE(message.find("LLAMUX_CUDA_MEMORY_LIMIT_MIB: expected a whole number of MiB"), std::string::npos)
        << message;
    EXPECT_NE(message.find("got '12x'"), std::string::npos) << message;
}

class CudaReference : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaReference, LogitsWithinBoundAtEveryNgl) {
    LLAMUX_REQUIRE_GPU();
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
    const int32_t n_layer = model->hparams().n_layer;
    const auto n_vocab = static_cast<size_t>(ref.n_vocab);
    for (int32_t ngl = 0; ngl <= n_layer + 1; ++ngl) {
        Session session(model, gpu_options(ngl));
        const std::vector<float> all = session.decode(ref.prompt_tokens, true);
        ASSERT_EQ(all.size(), ref.logits.size() * n_vocab);
        double worst = 0.0;
        for (size_t row = 0; row < ref.logits.size(); ++row) {
            const std::vector<float> ours(all.begin() + static_cast<std::ptrdiff_t>(row * n_vocab),
                                          all.begin() + static_cast<std::ptrdiff_t>((row + 1) * n_vocab));
            const double e = test::relative_row_error(ours, ref.logits[row]);
            worst = std::max(worst, e);
            EXPECT_LE(e, bound) << ref.model << " -ngl " << ngl << " position " << row;
        }
        std::printf("[ cuda     ] %-26s -ngl %d worst row error %.3e (bound %.0e)\n", ref.model.c_str(),
                    ngl, worst, bound);

        // One token at a time (matrix-vector kernels) against the batch (cuBLAS).
        session.reset();
        std::vector<float> last;
        for (int32_t t : ref.prompt_tokens) last = session.decode({t});
        const std::vector<float> batched_last(all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end());
        EXPECT_LE(test::relative_row_error(last, batched_last), bound) << "-ngl " << ngl;
    }
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, CudaReference, ::testing::ValuesIn(test::reference_files()),
                         test::reference_test_name);

// stories260K (F32): the greedy tokens are llama.cpp's at every -ngl, the CPU/GPU split
// points included.
class CudaGreedy : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGreedy, TokensIdenticalAtEveryNgl) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/" + GetParam());
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    auto model = Model::load(model_path.string());
    for (int32_t ngl = 0; ngl <= model->hparams().n_layer + 1; ++ngl) {
        Session session(model, gpu_options(ngl));
        const auto [tokens, text] =
            test::greedy(session, model->tokenizer(), ref.prompt_tokens, static_cast<int32_t>(ref.greedy_tokens.size()));
        EXPECT_EQ(tokens, ref.greedy_tokens) << "-ngl " << ngl;
        EXPECT_EQ(text, ref.greedy_text) << "-ngl " << ngl;
    }
}

INSTANTIATE_TEST_SUITE_P(Stories260K, CudaGreedy,
                         ::testing::Values("stories260K-F32.once-upon-a-time.json",
                                           "stories260K-F32.lily-and-ben.json",
                                           "stories260K-F32.tom-wanted.json"),
                         test::reference_test_name);

// Generation that crosses LLAMUX_CUDA_SPLIT_ATTENTION_FROM (set a few rows past the prompt
// here): the program switches from the one-block attention to the split one and from one
// CUDA graph to the other mid-generation, and the tokens stay llama.cpp's.
TEST(CudaSession, GenerationCrossesIntoSplitAttention) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    const test::Reference ref = test::load_reference(ref_path);
    ASSERT_GT(ref.greedy_tokens.size(), 8u);
    const std::string from = std::to_string(ref.prompt_tokens.size() + 4);
    const ScopedEnv split("LLAMUX_CUDA_SPLIT_ATTENTION_FROM", from.c_str());
    auto model = Model::load(model_path.string());
    Session session(model, gpu_options(model->hparams().n_layer + 1));
    const auto [tokens, text] =
        test::greedy(session, model->tokenizer(), ref.prompt_tokens, static_cast<int32_t>(ref.greedy_tokens.size()));
    EXPECT_EQ(tokens, ref.greedy_tokens);
}

// Embeddings come out of the GPU head's output norm as they come out of the CPU's.
TEST(CudaSession, EmbeddingsAsTheCpus) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    const std::vector<int32_t> tokens = {1, 403, 407, 261, 378};
    Session cpu(model, gpu_options(0));
    const auto expected = cpu.embed(tokens);
    for (int32_t ngl : {1, model->hparams().n_layer + 1}) {
        Session gpu(model, gpu_options(ngl));
        EXPECT_LE(test::relative_row_error(gpu.embed(tokens), expected), 1e-3) << "-ngl " << ngl;
    }
}

// Context shifts move GPU caches through the plugin's tensor reads and writes: 120 greedy
// tokens in a 32-position context (7 shifts) are the CPU's at every -ngl.
TEST(CudaSession, ContextShiftsGiveTheCpuTokens) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    auto tokens_at = [&](int32_t ngl) {
        SessionOptions options = gpu_options(ngl);
        options.n_ctx = 32;
        Session session(model, options);
        const auto [tokens, n_shifts] = test::greedy_shifting(session, {1, 403, 407, 261, 378}, 120);
        EXPECT_EQ(n_shifts, 7) << "-ngl " << ngl;
        return tokens;
    };
    const auto cpu = tokens_at(0);
    ASSERT_EQ(cpu.size(), 120u);
    for (int32_t ngl = 1; ngl <= model->hparams().n_layer + 1; ++ngl) {
        EXPECT_EQ(tokens_at(ngl), cpu) << "-ngl " << ngl;
    }
}

// A state saved from a CPU session loads into a GPU one and back (rows cross through the
// plugin's tensor reads and writes): the next token's logits are each side's own.
TEST(CudaSession, StatesMoveBetweenCpuAndGpu) {
    LLAMUX_REQUIRE_GPU();
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    const int32_t all = model->hparams().n_layer + 1;
    Session cpu(model, gpu_options(0));
    Session gpu(model, gpu_options(all));
    cpu.decode(prompt);
    gpu.decode(prompt);
    std::stringstream from_cpu, from_gpu;
    cpu.save_state(from_cpu);
    gpu.save_state(from_gpu);
    Session gpu_loaded(model, gpu_options(all));
    gpu_loaded.load_state(from_cpu, "cpu state");
    Session cpu_loaded(model, gpu_options(0));
    cpu_loaded.load_state(from_gpu, "gpu state");
    const std::vector<int32_t> next = {271};
    const auto cpu_next = cpu.decode(next);
    EXPECT_LE(test::relative_row_error(gpu_loaded.decode(next), cpu_next), 1e-3);
    EXPECT_LE(test::relative_row_error(cpu_loaded.decode(next), cpu_next), 1e-3);
}

}  // namespace
}  // namespace llamux
