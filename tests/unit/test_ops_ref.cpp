// The scalar reference ops (graph/src/ops_ref*.cpp) against formulas written out here in
// double precision, on random inputs of awkward sizes. Each test states its error bound.
// Storage-format conversions (f32_to_f16, quantize/dequantize) are taken as given: they
// have their own tests; here they only define what the inputs are.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "host_tensors.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux {
namespace {

using test::exec_args;
using test::HostTensor;
using test::make_node;

double round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }
double round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// Runs a node that must succeed.
void run_ok(const lmx_node& node, int32_t n_past = 0) {
    std::string err;
    ASSERT_TRUE(supports_node_ref(node));
    ASSERT_EQ(run_node_ref(node, exec_args(n_past), &err), LMX_OK) << err;
}

// Runs a node that must fail with `status`; returns the message.
std::string run_fails(const lmx_node& node, lmx_status status, int32_t n_past = 0) {
    std::string err;
    EXPECT_EQ(run_node_ref(node, exec_args(n_past), &err), status) << err;
    return err;
}

// ---- get_rows ------------------------------------------------------------------------------

class GetRows : public ::testing::TestWithParam<DType> {};

// Bound: exact. Each output row is the table row, dequantized.
TEST_P(GetRows, SelectsRowsOfAnyType) {
    const DType type = GetParam();
    const int64_t n_embd = info(type).block_size == 1 ? 37 : 2 * info(type).block_size;
    const int64_t n_vocab = 11;
    std::mt19937 rng(7);
    HostTensor table("token_embd.weight", type, {n_embd, n_vocab}, 8, LMX_ROLE_WEIGHT);
    table.fill_uniform(rng, -2.0f, 2.0f);
    const std::vector<float> rows = table.to_f32();
    const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    HostTensor tok("inp_tokens", DType::I32, {5});
    tok.from_i32(ids);
    HostTensor out("inp_embd", DType::F32, {n_embd, 5});
    run_ok(make_node(LMX_OP_GET_ROWS, out.get(), {table.get(), tok.get()}));
    for (int64_t t = 0; t < 5; ++t) {
        for (int64_t i = 0; i < n_embd; ++i) {
            ASSERT_EQ(out.f32(i, t), rows[static_cast<size_t>(ids[static_cast<size_t>(t)] * n_embd + i)])
                << "token " << t << " element " << i;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, GetRows,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0,
                                           DType::Q5_1, DType::Q8_0, DType::Q4_K, DType::Q6_K),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

TEST(GetRowsErrors, IdOutOfRangeNamesIdAndVocab) {
    HostTensor table("token_embd.weight", DType::F32, {8, 32});
    HostTensor tok("inp_tokens", DType::I32, {3});
    HostTensor out("inp_embd", DType::F32, {8, 3});
    const lmx_node node = make_node(LMX_OP_GET_ROWS, out.get(), {table.get(), tok.get()});
    for (int32_t bad : {32, -1, 1000000}) {
        tok.from_i32({1, bad, 2});
        const std::string msg = run_fails(node, LMX_ERR_INVALID);
        EXPECT_NE(msg.find("get_rows"), std::string::npos) << msg;
        EXPECT_NE(msg.find("inp_embd"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
        EXPECT_NE(msg.find("32 rows"), std::string::npos) << msg;
    }
}

TEST(GetRowsErrors, IdsMustBeI32) {
    HostTensor table("token_embd.weight", DType::F32, {8, 32});
    HostTensor tok("inp_tokens", DType::F32, {3});
    HostTensor out("inp_embd", DType::F32, {8, 3});
    const lmx_node node = make_node(LMX_OP_GET_ROWS, out.get(), {table.get(), tok.get()});
    EXPECT_FALSE(supports_node_ref(node));
    const std::string msg = run_fails(node, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("inp_tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("i32"), std::string::npos) << msg;
}

// ---- rms_norm ------------------------------------------------------------------------------

// Bound: |got - want| <= 1e-6 * |want| + 1e-30 (a few float roundings of one product chain).
TEST(RmsNorm, MatchesFormula) {
    std::mt19937 rng(11);
    for (int64_t n : {1, 7, 37, 4097}) {
        for (int64_t rows : {1, 3}) {
            const float eps = 1e-5f;
            HostTensor x("x", DType::F32, {n, rows}, 12);
            x.fill_uniform(rng, -3.0f, 3.0f);
            HostTensor w("attn_norm.weight", DType::F32, {n});
            w.fill_uniform(rng, 0.5f, 1.5f);
            HostTensor y("attn_norm", DType::F32, {n, rows});
            run_ok(make_node(LMX_OP_RMS_NORM, y.get(), {x.get(), w.get()}, {}, {eps}));
            for (int64_t r = 0; r < rows; ++r) {
                double ss = 0.0;
                for (int64_t i = 0; i < n; ++i) ss += double(x.f32(i, r)) * x.f32(i, r);
                const double scale = 1.0 / std::sqrt(ss / double(n) + double(eps));
                for (int64_t i = 0; i < n; ++i) {
                    const double want = double(x.f32(i, r)) * scale * double(w.f32(i));
                    ASSERT_NEAR(y.f32(i, r), want, 1e-6 * std::abs(want) + 1e-30)
                        << "n " << n << " row " << r << " element " << i;
                }
            }
        }
    }
}

TEST(RmsNormErrors, WeightLengthAndDtype) {
    HostTensor x("x", DType::F32, {16, 2});
    HostTensor w("blk.0.attn_norm.weight", DType::F32, {15});
    HostTensor y("l0.attn_norm", DType::F32, {16, 2});
    std::string msg =
        run_fails(make_node(LMX_OP_RMS_NORM, y.get(), {x.get(), w.get()}, {}, {1e-5f}),
                  LMX_ERR_INVALID);
    EXPECT_NE(msg.find("rms_norm l0.attn_norm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blk.0.attn_norm.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 16, got 15"), std::string::npos) << msg;

    HostTensor xh("x16", DType::F16, {16, 2});
    HostTensor w16("w", DType::F32, {16});
    const lmx_node node = make_node(LMX_OP_RMS_NORM, y.get(), {xh.get(), w16.get()}, {}, {1e-5f});
    EXPECT_FALSE(supports_node_ref(node));
    msg = run_fails(node, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("x16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got f16"), std::string::npos) << msg;
}

// ---- matmul --------------------------------------------------------------------------------

struct MatmulCase {
    DType type;
    int64_t k;
};

class Matmul : public ::testing::TestWithParam<std::tuple<MatmulCase, int64_t>> {};

// The activation column as the op must see it: rounded to the weight's vec_dot_type.
std::vector<double> activation_as_vec_dot_type(DType weight, const float* x, int64_t k) {
    const DType vdt = vec_dot_type(weight);
    std::vector<double> out(static_cast<size_t>(k));
    if (vdt == DType::F32) {
        for (int64_t i = 0; i < k; ++i) out[static_cast<size_t>(i)] = x[i];
    } else if (vdt == DType::F16) {
        for (int64_t i = 0; i < k; ++i) out[static_cast<size_t>(i)] = round_f16(x[i]);
    } else if (vdt == DType::BF16) {
        for (int64_t i = 0; i < k; ++i) out[static_cast<size_t>(i)] = round_bf16(x[i]);
    } else {
        std::vector<std::byte> q(*row_bytes(vdt, k));
        std::vector<float> back(static_cast<size_t>(k));
        quantize_row_ref(vdt, x, q.data(), k);
        dequantize_row_ref(vdt, q.data(), back.data(), k);
        for (int64_t i = 0; i < k; ++i) out[static_cast<size_t>(i)] = back[static_cast<size_t>(i)];
    }
    return out;
}

// want[n, m] = sum_i W[n, i] * a_m[i] in double, W dequantized and a_m the column rounded to
// vec_dot_type. Bound: |got - want| <= 2e-6 * sum_i |W[n, i] a_m[i]| + 1e-6: float
// accumulation and per-block float scales, not the activation quantization (already in
// want). A second, loose check against the unrounded x bounds that quantization error.
TEST_P(Matmul, MatchesDotOfDequantizedWeights) {
    const auto [c, m_cols] = GetParam();
    const int64_t K = c.k, N = 5;
    std::mt19937 rng(static_cast<unsigned>(K * 31 + m_cols));
    HostTensor w("blk.0.attn_q.weight", c.type, {K, N}, 16, LMX_ROLE_WEIGHT);
    w.fill_uniform(rng, -1.0f, 1.0f);
    const std::vector<float> wf = w.to_f32();
    HostTensor x("l0.attn_norm", DType::F32, {K, m_cols}, 4);
    x.fill_uniform(rng, -1.0f, 1.0f);
    HostTensor y("l0.q", DType::F32, {N, m_cols});
    run_ok(make_node(LMX_OP_MATMUL, y.get(), {w.get(), x.get()}));
    const bool quantized_act = info(vec_dot_type(c.type)).quantized;
    for (int64_t m = 0; m < m_cols; ++m) {
        const std::vector<double> a = activation_as_vec_dot_type(c.type, &x.f32(0, m), K);
        for (int64_t n = 0; n < N; ++n) {
            double want = 0.0, mag = 0.0, want_x = 0.0, mag_w = 0.0;
            for (int64_t i = 0; i < K; ++i) {
                const double wi = wf[static_cast<size_t>(n * K + i)];
                want += wi * a[static_cast<size_t>(i)];
                mag += std::abs(wi * a[static_cast<size_t>(i)]);
                want_x += wi * double(x.f32(i, m));
                mag_w += std::abs(wi);
            }
            ASSERT_NEAR(y.f32(n, m), want, 2e-6 * mag + 1e-6)
                << dtype_name(c.type) << " K " << K << " n " << n << " m " << m;
            // Q8 activations: |x - q8(x)| <= amax/254 per element, amax <= 1 here.
            const double loose = quantized_act ? mag_w / 200.0 : 1e-2 * mag + 1e-6;
            ASSERT_NEAR(y.f32(n, m), want_x, loose) << "against unrounded x";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Types, Matmul,
    ::testing::Combine(::testing::Values(MatmulCase{DType::F32, 37}, MatmulCase{DType::F32, 1},
                                         MatmulCase{DType::F16, 37}, MatmulCase{DType::BF16, 19},
                                         MatmulCase{DType::Q4_0, 96}, MatmulCase{DType::Q4_1, 64},
                                         MatmulCase{DType::Q5_0, 64}, MatmulCase{DType::Q5_1, 32},
                                         MatmulCase{DType::Q8_0, 160}, MatmulCase{DType::Q2_K, 256},
                                         MatmulCase{DType::Q3_K, 256}, MatmulCase{DType::Q4_K, 512},
                                         MatmulCase{DType::Q5_K, 256}, MatmulCase{DType::Q6_K, 512}),
                       ::testing::Values(int64_t{1}, int64_t{3}, int64_t{7})),
    [](const auto& p) {
        return std::string(dtype_name(std::get<0>(p.param).type)) + "_k" +
               std::to_string(std::get<0>(p.param).k) + "_m" +
               std::to_string(std::get<1>(p.param));
    });

TEST(MatmulErrors, UnsupportedWeightTypeAndShapes) {
    HostTensor x("h", DType::F32, {256, 2});
    HostTensor y("logits", DType::F32, {4, 2});
    for (DType bad : {DType::I32, DType::Q8_K, DType::F64}) {
        HostTensor w("output.weight", bad, {256, 4}, 0, LMX_ROLE_WEIGHT);
        const lmx_node node = make_node(LMX_OP_MATMUL, y.get(), {w.get(), x.get()});
        EXPECT_FALSE(supports_node_ref(node)) << dtype_name(bad);
        const std::string msg = run_fails(node, LMX_ERR_UNSUPPORTED);
        EXPECT_NE(msg.find("matmul logits"), std::string::npos) << msg;
        EXPECT_NE(msg.find("output.weight"), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(dtype_name(bad))), std::string::npos) << msg;
    }
    HostTensor w("output.weight", DType::F32, {255, 4}, 0, LMX_ROLE_WEIGHT);
    const std::string msg =
        run_fails(make_node(LMX_OP_MATMUL, y.get(), {w.get(), x.get()}), LMX_ERR_INVALID);
    EXPECT_NE(msg.find("h: ne[0]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 255, got 256"), std::string::npos) << msg;
}

// ---- rope ----------------------------------------------------------------------------------

struct RopeCase {
    int64_t head_dim, n_head, n_tok;
    int32_t n_rot;
    float base, scale;
};

class Rope : public ::testing::TestWithParam<RopeCase> {};

// want: theta_i = p * freq_scale * base^(-2i/n_rot) in double, pairs rotated in double.
// Bound: |got - want| <= max|x| * (1e-6 + 5e-7 * p): the float angle (ggml iterates
// theta *= theta_scale in float) drifts by a few ulps of p; dims >= n_rot are exact.
TEST_P(Rope, MatchesFormula) {
    const RopeCase c = GetParam();
    std::mt19937 rng(static_cast<unsigned>(c.head_dim * 7 + c.n_tok));
    HostTensor x("l0.q_heads", DType::F32, {c.head_dim, c.n_head, c.n_tok});
    x.fill_uniform(rng, -2.0f, 2.0f);
    HostTensor pos("inp_pos", DType::I32, {c.n_tok});
    std::vector<int32_t> p(static_cast<size_t>(c.n_tok));
    for (int64_t t = 0; t < c.n_tok; ++t) p[static_cast<size_t>(t)] = static_cast<int32_t>((t * 97 + 5) % 301);
    p[0] = 0;
    pos.from_i32(p);
    HostTensor y("l0.q_rope", DType::F32, {c.head_dim, c.n_head, c.n_tok});
    run_ok(make_node(LMX_OP_ROPE, y.get(), {x.get(), pos.get()}, {c.n_rot}, {c.base, c.scale}));
    for (int64_t t = 0; t < c.n_tok; ++t) {
        const double pt = p[static_cast<size_t>(t)];
        for (int64_t h = 0; h < c.n_head; ++h) {
            double amax = 0.0;
            for (int64_t i = 0; i < c.head_dim; ++i) amax = std::max(amax, double(std::abs(x.f32(i, h, t))));
            const double bound = amax * (1e-6 + 5e-7 * pt);
            for (int64_t i = 0; i < c.n_rot / 2; ++i) {
                const double theta = pt * c.scale * std::pow(double(c.base), -2.0 * double(i) / c.n_rot);
                const double x0 = x.f32(2 * i, h, t), x1 = x.f32(2 * i + 1, h, t);
                ASSERT_NEAR(y.f32(2 * i, h, t), x0 * std::cos(theta) - x1 * std::sin(theta), bound)
                    << "token " << t << " head " << h << " pair " << i;
                ASSERT_NEAR(y.f32(2 * i + 1, h, t), x0 * std::sin(theta) + x1 * std::cos(theta), bound)
                    << "token " << t << " head " << h << " pair " << i;
            }
            for (int64_t i = c.n_rot; i < c.head_dim; ++i) ASSERT_EQ(y.f32(i, h, t), x.f32(i, h, t));
            if (pt == 0.0) {  // position 0 is the identity, exactly
                for (int64_t i = 0; i < c.head_dim; ++i) ASSERT_EQ(y.f32(i, h, t), x.f32(i, h, t));
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Rope,
                         ::testing::Values(RopeCase{8, 3, 1, 8, 10000.0f, 1.0f},
                                           RopeCase{64, 4, 5, 64, 10000.0f, 1.0f},
                                           RopeCase{24, 2, 7, 16, 10000.0f, 1.0f},
                                           RopeCase{10, 3, 4, 6, 500000.0f, 0.5f},
                                           RopeCase{128, 2, 3, 128, 10000.0f, 0.25f}),
                         [](const auto& p) {
                             const RopeCase& c = p.param;
                             return "d" + std::to_string(c.head_dim) + "_h" +
                                    std::to_string(c.n_head) + "_t" + std::to_string(c.n_tok) +
                                    "_rot" + std::to_string(c.n_rot) + "_" + std::to_string(p.index);
                         });

TEST(RopeErrors, OddNRot) {
    HostTensor x("q", DType::F32, {8, 2, 1});
    HostTensor pos("inp_pos", DType::I32, {1});
    HostTensor y("l2.q_rope", DType::F32, {8, 2, 1});
    for (int32_t n_rot : {7, 0, 10}) {
        const lmx_node node =
            make_node(LMX_OP_ROPE, y.get(), {x.get(), pos.get()}, {n_rot}, {10000.0f, 1.0f}, 2);
        EXPECT_FALSE(supports_node_ref(node));
        const std::string msg = run_fails(node, LMX_ERR_INVALID);
        EXPECT_NE(msg.find("rope l2.q_rope (layer 2)"), std::string::npos) << msg;
        EXPECT_NE(msg.find("n_rot"), std::string::npos) << msg;
    }
}

// ---- kv_store ------------------------------------------------------------------------------

class KvStore : public ::testing::TestWithParam<DType> {};

// Bound: exact: rows n_past .. n_past+n_tok-1 hold the source converted to the cache type;
// every other byte of the cache is untouched.
TEST_P(KvStore, WritesRowsAfterNPast) {
    const DType type = GetParam();
    const int64_t n_embd_kv = 12, n_ctx = 9, n_tok = 3;
    const int32_t n_past = 4;
    std::mt19937 rng(3);
    HostTensor cache("cache_k.l0", type, {n_embd_kv, n_ctx}, 0, LMX_ROLE_KV_CACHE);
    cache.fill_bytes(0x5A);
    const std::vector<std::byte> before(cache.bytes(), cache.bytes() + cache.size_bytes());
    // The roped k arrives as a [head_dim, n_head_kv, n_tok] view; v as [n_embd_kv, n_tok].
    HostTensor k3("l0.k_rope", DType::F32, {4, 3, n_tok});
    k3.fill_uniform(rng, -4.0f, 4.0f);
    HostTensor v2("l0.v", DType::F32, {n_embd_kv, n_tok}, 8);
    v2.fill_uniform(rng, -4.0f, 4.0f);
    for (const HostTensor* src : {&k3, &v2}) {
        cache.fill_bytes(0x5A);
        run_ok(make_node(LMX_OP_KV_STORE, cache.get(), {src->get()}), n_past);
        const std::vector<float> s = src->to_f32();
        for (int64_t r = 0; r < n_ctx; ++r) {
            const bool written = r >= n_past && r < n_past + n_tok;
            if (!written) {
                ASSERT_EQ(0, std::memcmp(cache.row(r), before.data() + r * cache.get()->nb[1],
                                         cache.get()->nb[1]))
                    << "row " << r << " was touched";
                continue;
            }
            for (int64_t i = 0; i < n_embd_kv; ++i) {
                const float v = s[static_cast<size_t>((r - n_past) * n_embd_kv + i)];
                const std::byte* row = cache.row(r);
                if (type == DType::F32) {
                    ASSERT_EQ(reinterpret_cast<const float*>(row)[i], v);
                } else if (type == DType::F16) {
                    ASSERT_EQ(reinterpret_cast<const f16_bits*>(row)[i], f32_to_f16(v));
                } else {
                    ASSERT_EQ(reinterpret_cast<const bf16_bits*>(row)[i], f32_to_bf16(v));
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, KvStore, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

TEST(KvStoreErrors, CacheOverflowNamesCache) {
    HostTensor cache("cache_v.l5", DType::F16, {8, 16}, 0, LMX_ROLE_KV_CACHE);
    HostTensor v("l5.v", DType::F32, {8, 4});
    const lmx_node node = make_node(LMX_OP_KV_STORE, cache.get(), {v.get()}, {}, {}, 5);
    EXPECT_TRUE(supports_node_ref(node));
    std::string err;
    EXPECT_EQ(run_node_ref(node, exec_args(12), &err), LMX_OK) << err;  // exactly fills it
    for (int32_t n_past : {13, -1, 100}) {
        const std::string msg = run_fails(node, LMX_ERR_INVALID, n_past);
        EXPECT_NE(msg.find("kv_store cache_v.l5"), std::string::npos) << msg;
        EXPECT_NE(msg.find("16 rows"), std::string::npos) << msg;
        EXPECT_NE(msg.find("n_past " + std::to_string(n_past)), std::string::npos) << msg;
    }
    // The 32-value block types are cache types (-ctk q4_0); the K-quants are not.
    HostTensor q4k("cache_q4k", DType::Q4_K, {256, 16}, 0, LMX_ROLE_KV_CACHE);
    HostTensor v256("v", DType::F32, {256, 4});
    const lmx_node bad = make_node(LMX_OP_KV_STORE, q4k.get(), {v256.get()});
    EXPECT_FALSE(supports_node_ref(bad));
    const std::string msg = run_fails(bad, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("cache_q4k"), std::string::npos) << msg;
    EXPECT_NE(msg.find("q4_K"), std::string::npos) << msg;
}

// ---- attention -----------------------------------------------------------------------------

struct AttnCase {
    int32_t n_head, n_head_kv;
    int64_t head_dim, n_tok;
    int32_t n_past;
    DType cache;
};

class Attention : public ::testing::TestWithParam<AttnCase> {};

// want: for query t at position n_past+t and head h (kv head h / (n_head/n_head_kv)),
// s_j = (q . k_j) * scale over j <= n_past+t, p = softmax(s), out = sum_j p_j v_j, all in
// double; q, and the probabilities before the sum over V, are rounded to the cache's half
// type when the cache is F16/BF16 (as llama.cpp's F16 matmuls do). Bound: |got - want| <= 2e-6 * max|v| + 1e-7. Cache rows past the last
// query's position hold NaN: reading them would show.
TEST_P(Attention, MatchesCausalSoftmaxFormula) {
    const AttnCase c = GetParam();
    const int64_t n_ctx = c.n_past + c.n_tok + 3;
    const int64_t n_embd_kv = c.head_dim * c.n_head_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    std::mt19937 rng(static_cast<unsigned>(c.n_head * 100 + c.n_head_kv * 10 + c.n_tok + c.n_past));
    HostTensor q("l0.q_rope", DType::F32, {c.head_dim, c.n_head, c.n_tok});
    q.fill_uniform(rng, -2.0f, 2.0f);
    HostTensor k("cache_k.l0", c.cache, {n_embd_kv, n_ctx}, 0, LMX_ROLE_KV_CACHE);
    HostTensor v("cache_v.l0", c.cache, {n_embd_kv, n_ctx}, 0, LMX_ROLE_KV_CACHE);
    std::vector<float> kf = test::random_floats(rng, static_cast<size_t>(n_embd_kv * n_ctx), -2.0f, 2.0f);
    std::vector<float> vf = test::random_floats(rng, static_cast<size_t>(n_embd_kv * n_ctx), -1.0f, 1.0f);
    for (int64_t i = (c.n_past + c.n_tok) * n_embd_kv; i < n_embd_kv * n_ctx; ++i) {
        kf[static_cast<size_t>(i)] = NAN;
        vf[static_cast<size_t>(i)] = NAN;
    }
    k.from_f32(kf);
    v.from_f32(vf);
    kf = k.to_f32();  // what the cache holds
    vf = v.to_f32();
    HostTensor out("l0.attn", DType::F32, {c.head_dim * c.n_head, c.n_tok});
    run_ok(make_node(LMX_OP_ATTENTION, out.get(), {q.get(), k.get(), v.get()},
                     {c.n_head, c.n_head_kv}, {scale}),
           c.n_past);

    const int64_t group = c.n_head / c.n_head_kv;
    for (int64_t t = 0; t < c.n_tok; ++t) {
        const int64_t n_kv = c.n_past + t + 1;
        for (int64_t h = 0; h < c.n_head; ++h) {
            const int64_t off = (h / group) * c.head_dim;
            std::vector<double> s(static_cast<size_t>(n_kv));
            double smax = -INFINITY;
            for (int64_t j = 0; j < n_kv; ++j) {
                double dot = 0.0;
                for (int64_t d = 0; d < c.head_dim; ++d) {
                    const float qd = q.f32(d, h, t);
                    const double qr = c.cache == DType::F16    ? round_f16(qd)
                                      : c.cache == DType::BF16 ? round_bf16(qd)
                                                               : double(qd);
                    dot += qr * kf[static_cast<size_t>(j * n_embd_kv + off + d)];
                }
                s[static_cast<size_t>(j)] = dot * scale;
                smax = std::max(smax, s[static_cast<size_t>(j)]);
            }
            double sum = 0.0;
            for (double& x : s) sum += (x = std::exp(x - smax));
            auto round_p = [&](double p) {  // probabilities meet V in the cache's type
                const auto pf = static_cast<float>(p);
                return c.cache == DType::F16    ? round_f16(pf)
                       : c.cache == DType::BF16 ? round_bf16(pf)
                                                : double(pf);
            };
            for (int64_t d = 0; d < c.head_dim; ++d) {
                double want = 0.0;
                for (int64_t j = 0; j < n_kv; ++j) {
                    want += round_p(s[static_cast<size_t>(j)] / sum) *
                            vf[static_cast<size_t>(j * n_embd_kv + off + d)];
                }
                ASSERT_NEAR(out.f32(h * c.head_dim + d, t), want, 2e-6 + 1e-7)
                    << "token " << t << " head " << h << " dim " << d;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Attention,
    ::testing::Values(AttnCase{4, 4, 8, 1, 0, DType::F32},   // MHA, first token
                      AttnCase{4, 4, 12, 5, 0, DType::F16},  // MHA prompt
                      AttnCase{4, 2, 12, 3, 7, DType::F32},  // GQA 2, after a prompt
                      AttnCase{4, 2, 6, 1, 9, DType::F16},   // GQA 2, generation
                      AttnCase{8, 2, 16, 4, 5, DType::BF16}, // GQA 4
                      AttnCase{4, 1, 10, 6, 2, DType::F16},  // GQA 4 (one kv head)
                      AttnCase{2, 2, 64, 2, 30, DType::F32}),
    [](const auto& p) {
        const AttnCase& c = p.param;
        return "h" + std::to_string(c.n_head) + "_kv" + std::to_string(c.n_head_kv) + "_d" +
               std::to_string(c.head_dim) + "_t" + std::to_string(c.n_tok) + "_past" +
               std::to_string(c.n_past) + "_" + std::string(dtype_name(c.cache));
    });

// Prefill of n tokens then one more token equals a prefill of n+1 tokens: the cache and
// n_past carry everything between calls.
TEST(AttentionSequence, IncrementalEqualsPrefill) {
    const int32_t n_head = 4, n_head_kv = 2, head_dim = 8, n_tok = 5, n_ctx = 8;
    const int64_t e_kv = head_dim * n_head_kv;
    std::mt19937 rng(42);
    HostTensor q("q", DType::F32, {head_dim, n_head, n_tok});
    HostTensor kn("k_new", DType::F32, {e_kv, n_tok});
    HostTensor vn("v_new", DType::F32, {e_kv, n_tok});
    q.fill_uniform(rng, -1.0f, 1.0f);
    kn.fill_uniform(rng, -1.0f, 1.0f);
    vn.fill_uniform(rng, -1.0f, 1.0f);
    const float scale = 1.0f / std::sqrt(8.0f);

    auto run = [&](int64_t first, int64_t count, HostTensor& kc, HostTensor& vc) {
        HostTensor qs("q_part", DType::F32, {head_dim, n_head, count});
        HostTensor ks("k_part", DType::F32, {e_kv, count});
        HostTensor vs("v_part", DType::F32, {e_kv, count});
        for (int64_t t = 0; t < count; ++t) {
            std::memcpy(qs.row(t * n_head), q.row((first + t) * n_head), head_dim * n_head * 4);
            std::memcpy(ks.row(t), kn.row(first + t), static_cast<size_t>(e_kv) * 4);
            std::memcpy(vs.row(t), vn.row(first + t), static_cast<size_t>(e_kv) * 4);
        }
        const auto n_past = static_cast<int32_t>(first);
        run_ok(make_node(LMX_OP_KV_STORE, kc.get(), {ks.get()}), n_past);
        run_ok(make_node(LMX_OP_KV_STORE, vc.get(), {vs.get()}), n_past);
        HostTensor o("attn", DType::F32, {head_dim * n_head, count});
        run_ok(make_node(LMX_OP_ATTENTION, o.get(), {qs.get(), kc.get(), vc.get()},
                         {n_head, n_head_kv}, {scale}),
               n_past);
        return o.to_f32();
    };
    HostTensor k1("cache_k", DType::F16, {e_kv, n_ctx}), v1("cache_v", DType::F16, {e_kv, n_ctx});
    HostTensor k2("cache_k", DType::F16, {e_kv, n_ctx}), v2("cache_v", DType::F16, {e_kv, n_ctx});
    const std::vector<float> all = run(0, n_tok, k1, v1);
    run(0, n_tok - 1, k2, v2);
    const std::vector<float> last = run(n_tok - 1, 1, k2, v2);
    for (int64_t i = 0; i < head_dim * n_head; ++i) {
        ASSERT_EQ(last[static_cast<size_t>(i)], all[static_cast<size_t>((n_tok - 1) * head_dim * n_head + i)]);
    }
}

TEST(AttentionErrors, HeadsAndOverflow) {
    HostTensor q("q", DType::F32, {8, 4, 2});
    HostTensor k("cache_k.l1", DType::F16, {16, 4});
    HostTensor v("cache_v.l1", DType::F16, {16, 4});
    HostTensor o("l1.attn", DType::F32, {32, 2});
    lmx_node node = make_node(LMX_OP_ATTENTION, o.get(), {q.get(), k.get(), v.get()}, {4, 2}, {0.35f}, 1);
    EXPECT_TRUE(supports_node_ref(node));
    std::string msg = run_fails(node, LMX_ERR_INVALID, 3);  // 3 + 2 > 4 rows
    EXPECT_NE(msg.find("attention l1.attn"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cache_k.l1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 rows"), std::string::npos) << msg;

    node.iparams[1] = 3;  // 4 heads do not split into 3 groups
    EXPECT_FALSE(supports_node_ref(node));
    msg = run_fails(node, LMX_ERR_INVALID);
    EXPECT_NE(msg.find("n_head_kv"), std::string::npos) << msg;

    node.iparams[1] = 1;  // k rows of 16 do not hold one head of 8
    msg = run_fails(node, LMX_ERR_INVALID);
    EXPECT_NE(msg.find("cache_k.l1: ne[0]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 8, got 16"), std::string::npos) << msg;
}

// ---- swiglu, add, copy ---------------------------------------------------------------------

// Bound: |got - want| <= 1e-6 * |want| + 1e-30 (float expf and three roundings).
TEST(Swiglu, MatchesFormula) {
    std::mt19937 rng(5);
    for (int64_t n : {1, 37, 1001}) {
        HostTensor g("ffn_gate", DType::F32, {n, 3}, 4);
        HostTensor u("ffn_up", DType::F32, {n, 3});
        HostTensor y("ffn_act", DType::F32, {n, 3}, 20);
        g.fill_uniform(rng, -12.0f, 12.0f);
        u.fill_uniform(rng, -3.0f, 3.0f);
        run_ok(make_node(LMX_OP_SWIGLU, y.get(), {g.get(), u.get()}));
        for (int64_t r = 0; r < 3; ++r) {
            for (int64_t i = 0; i < n; ++i) {
                const double gi = g.f32(i, r);
                const double want = gi / (1.0 + std::exp(-gi)) * u.f32(i, r);
                ASSERT_NEAR(y.f32(i, r), want, 1e-6 * std::abs(want) + 1e-30) << i;
            }
        }
    }
}

// Bound: exact (the float sum is the double sum rounded once).
TEST(Add, MatchesFormula) {
    std::mt19937 rng(6);
    HostTensor a("x", DType::F32, {37, 2, 3}, 8);
    HostTensor b("attn_out", DType::F32, {37, 2, 3});
    HostTensor y("resid", DType::F32, {37, 2, 3}, 4);
    a.fill_uniform(rng, -5.0f, 5.0f);
    b.fill_uniform(rng, -5.0f, 5.0f);
    run_ok(make_node(LMX_OP_ADD, y.get(), {a.get(), b.get()}));
    for (int64_t i2 = 0; i2 < 3; ++i2)
        for (int64_t i1 = 0; i1 < 2; ++i1)
            for (int64_t i0 = 0; i0 < 37; ++i0)
                ASSERT_EQ(y.f32(i0, i1, i2),
                          static_cast<float>(double(a.f32(i0, i1, i2)) + b.f32(i0, i1, i2)));

    HostTensor c("other", DType::F32, {37, 3, 2});
    const std::string msg =
        run_fails(make_node(LMX_OP_ADD, y.get(), {a.get(), c.get()}), LMX_ERR_INVALID);
    EXPECT_NE(msg.find("add resid"), std::string::npos) << msg;
    EXPECT_NE(msg.find("37x2x3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("37x3x2"), std::string::npos) << msg;
}

class Copy : public ::testing::TestWithParam<std::tuple<DType, DType>> {};

// Bound: exact: each element is the source value as float, stored with the destination's
// conversion (round to nearest even).
TEST_P(Copy, ConvertsEveryElement) {
    const auto [from, to] = GetParam();
    std::mt19937 rng(9);
    HostTensor s("src", from, {13, 3}, 6);
    s.fill_uniform(rng, -100.0f, 100.0f);
    const std::vector<float> sv = s.to_f32();
    for (bool reshape : {false, true}) {
        HostTensor d = reshape ? HostTensor("dst", to, {3, 13}) : HostTensor("dst", to, {13, 3}, 2);
        HostTensor sc("src_c", from, {13, 3});
        sc.from_f32(sv);
        run_ok(make_node(LMX_OP_COPY, d.get(), {reshape ? sc.get() : s.get()}));
        const std::vector<float> dv = d.to_f32();
        for (size_t i = 0; i < sv.size(); ++i) {
            const double want = to == DType::F16    ? round_f16(sv[i])
                                : to == DType::BF16 ? round_bf16(sv[i])
                                                    : double(sv[i]);
            ASSERT_EQ(dv[i], want) << i << (reshape ? " (reshape)" : "");
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Types, Copy,
    ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                       ::testing::Values(DType::F32, DType::F16, DType::BF16)),
    [](const auto& p) {
        return std::string(dtype_name(std::get<0>(p.param))) + "_to_" +
               std::string(dtype_name(std::get<1>(p.param)));
    });

TEST(CopyErrors, ElementCountAndQuantizedTypes) {
    HostTensor s("src", DType::F32, {8, 3});
    HostTensor d("dst_short", DType::F32, {8, 2});
    std::string msg = run_fails(make_node(LMX_OP_COPY, d.get(), {s.get()}), LMX_ERR_INVALID);
    EXPECT_NE(msg.find("copy dst_short"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 24 elements"), std::string::npos) << msg;
    HostTensor q("dst_q", DType::Q8_0, {32, 1});
    HostTensor s32("src32", DType::F32, {32, 1});
    const lmx_node node = make_node(LMX_OP_COPY, q.get(), {s32.get()});
    EXPECT_FALSE(supports_node_ref(node));
    msg = run_fails(node, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("q8_0"), std::string::npos) << msg;
}

// ---- dispatch ------------------------------------------------------------------------------

TEST(Dispatch, RefusesUnknownOpsMissingTensorsAndNullData) {
    HostTensor a("a", DType::F32, {4});
    HostTensor y("y", DType::F32, {4});
    lmx_node node = make_node(LMX_OP_NONE, y.get(), {a.get(), a.get()});
    EXPECT_FALSE(supports_node_ref(node));
    std::string msg = run_fails(node, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find(" y: "), std::string::npos) << msg;

    node.op = 77;
    EXPECT_FALSE(supports_node_ref(node));
    run_fails(node, LMX_ERR_UNSUPPORTED);

    node.op = LMX_OP_ADD;
    node.src[1] = nullptr;
    EXPECT_FALSE(supports_node_ref(node));
    msg = run_fails(node, LMX_ERR_INVALID);
    EXPECT_NE(msg.find("src[1]"), std::string::npos) << msg;

    node.dst = nullptr;
    EXPECT_FALSE(supports_node_ref(node));
    run_fails(node, LMX_ERR_INVALID);

    lmx_tensor unbound = *a.get();
    unbound.data = nullptr;
    node = make_node(LMX_OP_ADD, y.get(), {&unbound, a.get()});
    EXPECT_TRUE(supports_node_ref(node));  // shapes and types are fine; memory comes later
    msg = run_fails(node, LMX_ERR_INVALID);
    EXPECT_NE(msg.find("src[0] a: expected host data"), std::string::npos) << msg;
}

TEST(Dispatch, OverlappingRowsAreRefused) {
    HostTensor a("a", DType::F32, {8, 2});
    HostTensor y("y", DType::F32, {8, 2});
    lmx_tensor overlapping = *a.get();
    overlapping.nb[1] = 16;  // rows of 32 bytes, 16 apart
    const lmx_node node = make_node(LMX_OP_ADD, y.get(), {&overlapping, a.get()});
    EXPECT_FALSE(supports_node_ref(node));
    const std::string msg = run_fails(node, LMX_ERR_UNSUPPORTED);
    EXPECT_NE(msg.find("nb[1]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace llamux
