// Attention for the few query rows of a decode step with AVX-512 (the block kernel's cache
// types and head sizes, attend_block_supports): the block kernel keeps one row per lane, so a lone row per KV head
// would leave 15 of its 16 lanes idle. Here the lanes hold keys; a work item is several
// heads of one token, and keys are the outer loop, so the item reads its heads' span of
// each cache row in one piece:
//   1. scores, 16 keys at a time: one accumulator per key sums q * k over head_dim in
//      16-wide pieces, and a transposing reduction turns the 16 accumulators into one
//      vector of 16 scores;
//   2. softmax over each head's scores, 16 at a time, the sum in double; p rounded to V's
//      type (an F16 V; a quantized one keeps p in float);
//   3. out = sum of p_j * v_j, 32 keys at a time in head_dim / 16 registers per head.
// Same numerics contract as the other kernels (cpu_attention.cpp); each row's sums run in an
// order of its own that does not depend on the heads it shares an item with, so any thread
// count gives the same result.
#include <algorithm>
#include <limits>

#include "attention_avx512.hpp"
#include "cpu_attention.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

constexpr int64_t kLanes = 16;

// v[i] = the sum of the 16 lanes of a[i], for 16 vectors: pairs of vectors interleaved and
// added (lanes 0+2, 1+3 of each 128-bit quarter), then pairs of those as doubles, then the
// four quarters across vectors. 45 instructions instead of 16 full horizontal sums.
LMX_AVX512 inline __m512 transpose_sum16(const __m512* a) {
    __m512 x[8], y[4];
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
        x[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]),
                             _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
    }
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
        const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(x[2 * m]), _mm512_castps_pd(x[2 * m + 1]));
        const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(x[2 * m]), _mm512_castps_pd(x[2 * m + 1]));
        y[m] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
    }
    // y[m], quarter L, element i: the quarter-L part of the sum of a[4m + i].
    const __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], 0x44),
                                   _mm512_shuffle_f32x4(y[0], y[1], 0xEE));
    const __m512 d = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], 0x44),
                                   _mm512_shuffle_f32x4(y[2], y[3], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x88), _mm512_shuffle_f32x4(c, d, 0xDD));
}

// Keys of one pass over V: each head's sum over them stays in registers.
constexpr int64_t kVKeys = 32;

// scores[h][0 .. n_kv) = scale * q_h . k_j; maxes[h][16]: their lane-wise maxima.
template <CacheKind KC>
LMX_AVX512 void score_keys(const AttnHeads& a, const float* q, float scale, float* scores,
                           int64_t stride, float* maxes) {
    for (int64_t h = 0; h < a.n_h; ++h) {
        _mm512_storeu_ps(maxes + h * kLanes, _mm512_set1_ps(-std::numeric_limits<float>::infinity()));
    }
    for (int64_t j0 = 0; j0 < a.n_kv; j0 += kLanes) {
        const int64_t nk = std::min(kLanes, a.n_kv - j0);
        for (int64_t j = j0 + kPrefetchKeys; j < std::min(a.n_kv, j0 + kPrefetchKeys + kLanes); ++j) {
            prefetch_bytes(row_ptr(a.k, j) + a.k_off, a.span_k);
        }
        const std::byte* rows[kLanes];
        for (int64_t i = 0; i < kLanes; ++i) rows[i] = row_ptr(a.k, j0 + std::min(i, nk - 1)) + a.k_off;
        const auto valid = static_cast<__mmask16>((1u << nk) - 1u);
        for (int64_t h = 0; h < a.n_h; ++h) {
            const size_t off = a.kv_bytes(a.k, h);
            const float* qh = q + h * a.D;
            __m512 acc[kLanes];
#pragma GCC unroll 16
            for (int64_t i = 0; i < kLanes; ++i) acc[i] = _mm512_setzero_ps();
            for (int64_t d = 0; d < a.D; d += kLanes) {
                const __m512 qd = _mm512_loadu_ps(qh + d);
#pragma GCC unroll 16
                for (int64_t i = 0; i < kLanes; ++i) {
                    acc[i] = _mm512_fmadd_ps(qd, load16<KC>(a.k.dtype, rows[i] + off, d), acc[i]);
                }
            }
            const __m512 sc = _mm512_mul_ps(transpose_sum16(acc), _mm512_set1_ps(scale));
            _mm512_mask_storeu_ps(scores + h * stride + j0, valid, sc);
            float* m = maxes + h * kLanes;
            _mm512_storeu_ps(m, _mm512_mask_max_ps(_mm512_loadu_ps(m), valid, _mm512_loadu_ps(m), sc));
        }
    }
}

// scores[j] = exp(scores[j] - max) / sum, the sum in double, rounded to V's type.
template <bool VF16>
LMX_AVX512 void softmax(float* scores, int64_t n_kv, float max_s) {
    const __m512 m = _mm512_set1_ps(max_s);
    __m512d sum_lo = _mm512_setzero_pd(), sum_hi = _mm512_setzero_pd();
    for (int64_t j = 0; j < n_kv; j += kLanes) {
        const auto valid = static_cast<__mmask16>((1u << std::min(kLanes, n_kv - j)) - 1u);
        const __m512 e = _mm512_maskz_mov_ps(
            valid, exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, scores + j), m)));
        _mm512_mask_storeu_ps(scores + j, valid, e);
        sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum_hi = _mm512_add_pd(
            sum_hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(sum_lo, sum_hi))));
    for (int64_t j = 0; j < n_kv; j += kLanes) {
        const auto valid = static_cast<__mmask16>((1u << std::min(kLanes, n_kv - j)) - 1u);
        __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, scores + j), inv);
        if constexpr (VF16) {
            p = round_f16(p);
        }
        _mm512_mask_storeu_ps(scores + j, valid, p);
    }
}

// out[0 .. 16 NP) (+)= sum over the n rows of p[j] * v_j, the sum held in NP registers;
// `first`: the first keys of the row, out is set rather than added to.
template <CacheKind VC, int NP>
LMX_AVX512 void weighted_v(int32_t dtype, const std::byte* const* rows, size_t off, const float* p, int64_t n,
                           bool first, float* out) {
    __m512 acc[NP];
#pragma GCC unroll 16
    for (int c = 0; c < NP; ++c) acc[c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
        const __m512 pj = _mm512_set1_ps(p[j]);
#pragma GCC unroll 16
        for (int c = 0; c < NP; ++c) acc[c] = _mm512_fmadd_ps(pj, load16<VC>(dtype, rows[j] + off, 16 * c), acc[c]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < NP; ++c) {
        _mm512_storeu_ps(out + 16 * c, first ? acc[c] : _mm512_add_ps(_mm512_loadu_ps(out + 16 * c), acc[c]));
    }
}

// out_h = sum over keys of p_h[j] * v_j for every head of the item, kVKeys keys at a time.
template <CacheKind VC>
LMX_AVX512 void weighted_values(const AttnHeads& a, const float* p, int64_t stride, float* out) {
    for (int64_t j0 = 0; j0 < a.n_kv; j0 += kVKeys) {
        const int64_t n = std::min(kVKeys, a.n_kv - j0);
        for (int64_t j = j0 + kPrefetchKeys; j < std::min(a.n_kv, j0 + kPrefetchKeys + kVKeys); ++j) {
            prefetch_bytes(row_ptr(a.v, j) + a.v_off, a.span_v);
        }
        const std::byte* rows[kVKeys];
        for (int64_t j = 0; j < n; ++j) rows[j] = row_ptr(a.v, j0 + j) + a.v_off;
        for (int64_t h = 0; h < a.n_h; ++h) {
            const float* ph = p + h * stride + j0;
            float* oh = out + h * a.D;
            for (int64_t c0 = 0; c0 < a.D; c0 += 128) {  // passes of at most 8 registers
                const size_t off = a.kv_bytes(a.v, h) + cache_bytes(a.v, c0);
                const int32_t dt = a.v.dtype;
                switch (std::min<int64_t>(a.D - c0, 128) / 16) {
                    case 1: weighted_v<VC, 1>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 2: weighted_v<VC, 2>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 3: weighted_v<VC, 3>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 4: weighted_v<VC, 4>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 5: weighted_v<VC, 5>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 6: weighted_v<VC, 6>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    case 7: weighted_v<VC, 7>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                    default: weighted_v<VC, 8>(dt, rows, off, ph, n, j0 == 0, oh + c0); break;
                }
            }
        }
    }
}

// Per-thread scratch: q [n_head][D], maxes [n_head][16], scores [n_head][n_ctx + 16].
template <CacheKind KC, CacheKind VC>
LMX_AVX512 void attend(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h0,
                       int64_t n_h, std::byte* scratch) {
    const int64_t D = s.head_dim, stride = node.src[1]->ne[1] + kLanes;
    auto* q = reinterpret_cast<float*>(scratch);
    float* maxes = q + s.n_head * D;
    float* scores = maxes + s.n_head * kLanes;
    for (int64_t h = 0; h < n_h; ++h) {
        q_for_keys<KC>(reinterpret_cast<const float*>(row_ptr(*node.src[0], h0 + h, t)), q + h * D, D);
    }
    const AttnHeads a = attn_heads(node, s, t, h0, n_h);
    score_keys<KC>(a, q, s.scale, scores, stride, maxes);
    for (int64_t h = 0; h < n_h; ++h) {
        const float max_s = _mm512_reduce_max_ps(_mm512_loadu_ps(maxes + h * kLanes));
        softmax<VC == CacheKind::F16>(scores + h * stride, a.n_kv, max_s);
    }
    weighted_values<VC>(a, scores, stride, reinterpret_cast<float*>(row_ptr(*node.dst, t)) + h0 * D);
}

template <CacheKind KC>
void attend_k(CacheKind vc, const lmx_node& node, const AttnShape& s, int64_t t, int64_t h0, int64_t n_h,
              std::byte* scratch) {
    switch (vc) {
        case CacheKind::F32: return attend<KC, CacheKind::F32>(node, s, t, h0, n_h, scratch);
        case CacheKind::F16: return attend<KC, CacheKind::F16>(node, s, t, h0, n_h, scratch);
        case CacheKind::Blocks: return attend<KC, CacheKind::Blocks>(node, s, t, h0, n_h, scratch);
    }
}

}  // namespace

size_t attend_row_avx512_scratch(int64_t head_dim, int64_t n_head, int64_t n_ctx) {
    return static_cast<size_t>(n_head * (head_dim + kLanes + n_ctx + kLanes)) * sizeof(float);
}

void attend_row_avx512(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h0,
                       int64_t n_h, std::byte* scratch) {
    CacheKind kc = CacheKind::F32, vc = CacheKind::F32;
    cache_kind_of(node.src[1]->dtype, &kc);
    cache_kind_of(node.src[2]->dtype, &vc);
    switch (kc) {
        case CacheKind::F32: return attend_k<CacheKind::F32>(vc, node, s, t, h0, n_h, scratch);
        case CacheKind::F16: return attend_k<CacheKind::F16>(vc, node, s, t, h0, n_h, scratch);
        case CacheKind::Blocks: return attend_k<CacheKind::Blocks>(vc, node, s, t, h0, n_h, scratch);
    }
}

}  // namespace llamux::cpu
