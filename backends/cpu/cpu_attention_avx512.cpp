// Attention for a block of up to 16 query rows of one KV head with AVX-512 (F32, F16 or
// quantized caches; head_dim a multiple of 16, of 32 with a quantized cache). The block's
// rows lie in the 16 lanes of a vector:
//   1. scores: q (as the K cache's vec_dot_type sees it: q_for_keys) transposed to
//      [head_dim][16]; for 8 keys at a time, the sum over d of qt[d] * k_j[d] gives key j's
//      score for all 16 rows in one vector, each lane summing over d in order (no horizontal
//      sums), each converted (or dequantized) K row serving every row;
//   2. softmax down the key axis, per lane: max, exp, the sum in double, p rounded to V's type;
//   3. out: 4 rows x 64 columns in 16 registers at a time; each V row is converted once per
//      4 rows and multiplied by each row's broadcast probability, in key order.
// A lane computes exactly what it would alone: which rows share a block changes no result.
#include <algorithm>
#include <limits>

#include "attention_avx512.hpp"
#include "cpu_attention.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

constexpr int64_t kKeys = 8;   // keys scored together: independent FMA chains
constexpr int64_t kRows = 4;   // rows of one pass over V
constexpr int64_t kCols = 64;  // output columns of one pass over V (kRows x 4 registers)

using Scratch = BlockScratch<kAttnLanes, kKeys>;

// Scores of keys 0 .. n_kv-1 into p[j][16] (lanes past their row's limit: -inf); returns
// each lane's maximum.
template <CacheKind KC>
LMX_AVX512 __m512 score_keys(const lmx_tensor& k, size_t k_off, int64_t D, int64_t n_kv,
                             __m512i limit, float scale, const Scratch& m) {
    const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512 max_s = neg_inf;
    for (int64_t j = 0; j < n_kv; j += kKeys) {
        const int64_t nk = std::min(kKeys, n_kv - j);
        for (int64_t a = j + kPrefetchKeys; a < std::min(n_kv, j + kPrefetchKeys + kKeys); ++a) {
            prefetch_bytes(row_ptr(k, a) + k_off, cache_bytes(k, D));
        }
        for (int64_t i = 0; i < kKeys; ++i) {
            float* kf = m.kf + i * D;
            if (i >= nk) {
                std::fill(kf, kf + D, 0.0f);
                continue;
            }
            const std::byte* row = row_ptr(k, j + i) + k_off;
            for (int64_t d = 0; d < D; d += 16) _mm512_storeu_ps(kf + d, load16<KC>(k.dtype, row, d));
        }
        __m512 acc[kKeys];
#pragma GCC unroll 8
        for (int64_t i = 0; i < kKeys; ++i) acc[i] = _mm512_setzero_ps();
        for (int64_t d = 0; d < D; ++d) {
            const __m512 qd = _mm512_loadu_ps(m.qt + d * kAttnLanes);
#pragma GCC unroll 8
            for (int64_t i = 0; i < kKeys; ++i) {
                acc[i] = _mm512_fmadd_ps(qd, _mm512_set1_ps(m.kf[i * D + d]), acc[i]);
            }
        }
#pragma GCC unroll 8
        for (int64_t i = 0; i < kKeys; ++i) {
            if (i >= nk) break;
            const __mmask16 seen =
                _mm512_cmpgt_epi32_mask(limit, _mm512_set1_epi32(static_cast<int32_t>(j + i)));
            const __m512 s =
                _mm512_mask_blend_ps(seen, neg_inf, _mm512_mul_ps(acc[i], _mm512_set1_ps(scale)));
            _mm512_storeu_ps(m.p + (j + i) * kAttnLanes, s);
            max_s = _mm512_max_ps(max_s, s);
        }
    }
    return max_s;
}

LMX_AVX512 inline __m512 concat(__m256 lo, __m256 hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}

// p[j][16] = exp(p - max) / sum, the sum in double in key order, rounded to V's type.
template <bool VF16>
LMX_AVX512 void softmax_keys(float* p, int64_t n_kv, __m512 max_s) {
    __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
    for (int64_t j = 0; j < n_kv; ++j) {
        float* pj = p + j * kAttnLanes;
        const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(pj), max_s));
        _mm512_storeu_ps(pj, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(
            sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512 inv = concat(_mm512_cvtpd_ps(_mm512_div_pd(one, sum_lo)),
                              _mm512_cvtpd_ps(_mm512_div_pd(one, sum_hi)));
    for (int64_t j = 0; j < n_kv; ++j) {
        float* pj = p + j * kAttnLanes;
        const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(pj), inv);
        _mm512_storeu_ps(pj, VF16 ? round_f16(x) : x);
    }
}

// out[r][0 .. 16*NV) = sum over keys j < n_kv of p[j][lane0 + r] * v_j, for the kRows rows
// whose out is not null; v_off: bytes into a V row of the first column.
template <CacheKind VC, int NV>
LMX_AVX512 void weighted_v(const lmx_tensor& v, size_t v_off, const float* p, int64_t lane0,
                           int64_t n_kv, float* const* out) {
    const size_t v_bytes = cache_bytes(v, 16 * NV);
    __m512 acc[kRows][NV];
#pragma GCC unroll 4
    for (int64_t r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
        for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < n_kv; ++j) {
        const std::byte* row = row_ptr(v, j) + v_off;
        if (j + kPrefetchKeys < n_kv) {
            prefetch_bytes(row_ptr(v, j + kPrefetchKeys) + v_off, v_bytes);
        }
        __m512 x[NV];
#pragma GCC unroll 4
        for (int c = 0; c < NV; ++c) x[c] = load16<VC>(v.dtype, row, 16 * c);
        const float* pj = p + j * kAttnLanes + lane0;
#pragma GCC unroll 4
        for (int64_t r = 0; r < kRows; ++r) {
            const __m512 pr = _mm512_set1_ps(pj[r]);
#pragma GCC unroll 4
            for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(pr, x[c], acc[r][c]);
        }
    }
    for (int64_t r = 0; r < kRows; ++r) {
        if (out[r] == nullptr) continue;
        for (int c = 0; c < NV; ++c) _mm512_storeu_ps(out[r] + 16 * c, acc[r][c]);
    }
}

template <CacheKind VC>
LMX_AVX512 void weighted_v_cols(int64_t cols, const lmx_tensor& v, size_t v_off, const float* p,
                                int64_t lane0, int64_t n_kv, float* const* out) {
    switch (cols / 16) {
        case 1: weighted_v<VC, 1>(v, v_off, p, lane0, n_kv, out); break;
        case 2: weighted_v<VC, 2>(v, v_off, p, lane0, n_kv, out); break;
        case 3: weighted_v<VC, 3>(v, v_off, p, lane0, n_kv, out); break;
        default: weighted_v<VC, 4>(v, v_off, p, lane0, n_kv, out); break;
    }
}

template <CacheKind KC, CacheKind VC>
LMX_AVX512 void attend_block(const lmx_node& node, const AttnShape& s, const AttnBlock& b,
                             std::byte* scratch) {
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t D = s.head_dim;
    const Scratch m = Scratch::at(scratch, D);
    const auto kv_col = static_cast<int64_t>((b.h0 / s.group) * D);  // elements into a cache row
    const BlockLanes<kAttnLanes> l = block_lanes<kAttnLanes>(node, s, b);
    // Unused lanes score zeros against all n_kv rows (finite values nobody reads).
    for (int64_t r = 0; r < kAttnLanes; ++r) {
        float* qr = m.q + r * D;
        if (l.q[r]) {
            q_for_keys<KC>(l.q[r], qr, D);
        } else {
            std::fill(qr, qr + D, 0.0f);
        }
    }
    const __m512i lane_rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(static_cast<int32_t>(D)));
    for (int64_t d = 0; d < D; ++d) {
        _mm512_storeu_ps(m.qt + d * kAttnLanes, _mm512_i32gather_ps(lane_rows, m.q + d, 4));
    }

    const __m512 max_s =
        score_keys<KC>(k, cache_bytes(k, kv_col), D, l.n_kv, _mm512_load_si512(l.limit), s.scale, m);
    softmax_keys<VC == CacheKind::F16>(m.p, l.n_kv, max_s);
    for_v_passes<kRows, kCols>(l, D, [&](int64_t c0, int64_t cols, int64_t g, float* const* o, int64_t n_seen) {
        weighted_v_cols<VC>(cols, v, cache_bytes(v, kv_col + c0), m.p, g, n_seen, o);
    });
}

}  // namespace

size_t attend_block_scratch(int64_t head_dim, int64_t n_ctx) { return Scratch::bytes(head_dim, n_ctx); }

void attend_block_avx512(const lmx_node& node, const AttnShape& s, const AttnBlock& b,
                         std::byte* scratch) {
    with_cache_kinds(node, [&](auto kc, auto vc) { attend_block<decltype(kc)::value, decltype(vc)::value>(node, s, b, scratch); });
}

}  // namespace llamux::cpu
