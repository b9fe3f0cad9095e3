// Attention for a block of up to 8 query rows of one KV head with AVX2 (F32, F16 or quantized
// caches; head_dim a multiple of 16, of 32 with a quantized cache): the AVX-512 block kernel's
// scheme (cpu_attention_avx512.cpp) on 8 lanes. The block's rows lie in the lanes of a vector:
//   1. scores: q (as the K cache's vec_dot_type sees it: q_for_keys) transposed to
//      [head_dim][8]; for 8 keys at a time, the sum over d of qt[d] * k_j[d] gives key j's
//      score for all 8 rows in one vector, each lane summing over d in order;
//   2. softmax down the key axis, per lane: max, exp, the sum in double, p rounded to V's type;
//   3. out: 4 rows x 16 columns in 8 registers at a time; each V row is converted once per
//      4 rows and multiplied by each row's broadcast probability, in key order.
// A lane computes exactly what it would alone: which rows share a block changes no result.
// Against the row kernel (cpu_attention_rows.cpp) a K row is converted once per block
// instead of once per query row, and no dot ends in a horizontal sum.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu_attention.hpp"
#include "cpu_tensor.hpp"
#include "llamux/quant_blocks.hpp"

#define LMX_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace llamux::cpu {
namespace {

constexpr int64_t kLanes = kAttnLanesAvx2;
constexpr int64_t kKeys = 8;   // keys scored together: independent FMA chains
constexpr int64_t kRows = 4;   // rows of one pass over V
constexpr int64_t kCols = 16;  // output columns of one pass over V (kRows x 2 registers)

using Scratch = BlockScratch<kLanes, kKeys>;

// Values 8 * quarter .. 8 * quarter + 7 of a block, as dequantize_row_ref gives them (d * q,
// or d * q + m for the types with a minimum; the 5th bit of Q5 quants from bit j of qh).
// Elements 0-15 of a 4-bit block are the low nibbles of its 16 bytes, 16-31 the high ones.
template <typename Block>
LMX_AVX2 inline __m256 block_quarter(const Block& b, int quarter) {
    __m256i q;
    if constexpr (std::is_same_v<Block, BlockQ8_0>) {
        q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * quarter)));
    } else {
        const __m256i bytes =
            _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + 8 * (quarter & 1))));
        q = quarter >= 2 ? _mm256_srli_epi32(bytes, 4) : _mm256_and_si256(bytes, _mm256_set1_epi32(0x0F));
        if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>) {
            uint32_t qh;
            std::memcpy(&qh, b.qh, sizeof qh);
            const __m256i bit = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int32_t>(qh >> (8 * quarter))),
                                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            q = _mm256_or_si256(q, _mm256_slli_epi32(_mm256_and_si256(bit, _mm256_set1_epi32(1)), 4));
        }
        if constexpr (std::is_same_v<Block, BlockQ4_0>) q = _mm256_sub_epi32(q, _mm256_set1_epi32(8));
        if constexpr (std::is_same_v<Block, BlockQ5_0>) q = _mm256_sub_epi32(q, _mm256_set1_epi32(16));
    }
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b.d));
    if constexpr (std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>) {
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), _mm256_set1_ps(_cvtsh_ss(b.m)));
    } else {
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(q));
    }
}

template <typename Block>
LMX_AVX2 inline __m256 blocks8(const std::byte* row, int64_t i) {
    return block_quarter(reinterpret_cast<const Block*>(row)[i / 32], static_cast<int>((i / 8) % 4));
}

// 8 cache values from element i (a multiple of 8) of a row of type dtype, as float.
template <CacheKind C>
LMX_AVX2 inline __m256 load8(int32_t dtype, const std::byte* row, int64_t i) {
    if constexpr (C == CacheKind::F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * static_cast<size_t>(i))));
    } else if constexpr (C == CacheKind::F32) {
        return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else {
        switch (dtype) {
            case LMX_TYPE_Q4_0: return blocks8<BlockQ4_0>(row, i);
            case LMX_TYPE_Q4_1: return blocks8<BlockQ4_1>(row, i);
            case LMX_TYPE_Q5_0: return blocks8<BlockQ5_0>(row, i);
            case LMX_TYPE_Q5_1: return blocks8<BlockQ5_1>(row, i);
            default: return blocks8<BlockQ8_0>(row, i);
        }
    }
}

LMX_AVX2 inline __m256 round_f16(__m256 x) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// 2^n for whole n in [-126, 127], as a float's exponent field.
LMX_AVX2 inline __m256 pow2(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

// exp(x) for x <= 0 (-inf gives 0), the AVX-512 kernels' exp_nonpositive on 8 lanes: x = n
// ln2 + r, exp(r) by Cephes' expf polynomial, times 2^n in two factors (n >= -150), the
// first exact and the second rounding a subnormal result once, as std::exp does.
LMX_AVX2 inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-104.0f));  // exp(-104) rounds to 0
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r);
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);  // floor(n / 2)
    const __m256 e = _mm256_mul_ps(_mm256_add_ps(y, _mm256_set1_ps(1.0f)), pow2(n1));
    return _mm256_mul_ps(e, pow2(_mm256_sub_epi32(ni, n1)));
}

// Scores of keys 0 .. n_kv-1 into p[j][8] (lanes past their row's limit: -inf); returns each
// lane's maximum.
template <CacheKind KC>
LMX_AVX2 __m256 score_keys(const lmx_tensor& k, size_t k_off, int64_t D, int64_t n_kv, __m256i limit,
                           float scale, const Scratch& m) {
    const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    const size_t row_bytes = cache_bytes(k, D);
    __m256 max_s = neg_inf;
    for (int64_t j = 0; j < n_kv; j += kKeys) {
        const int64_t nk = std::min(kKeys, n_kv - j);
        for (int64_t a = j + kPrefetchKeys; a < std::min(n_kv, j + kPrefetchKeys + kKeys); ++a) {
            prefetch_bytes(row_ptr(k, a) + k_off, row_bytes);
        }
        for (int64_t i = 0; i < kKeys; ++i) {
            float* kf = m.kf + i * D;
            if (i >= nk) {
                std::fill(kf, kf + D, 0.0f);
                continue;
            }
            const std::byte* row = row_ptr(k, j + i) + k_off;
            for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(kf + d, load8<KC>(k.dtype, row, d));
        }
        __m256 acc[kKeys];
#pragma GCC unroll 8
        for (int64_t i = 0; i < kKeys; ++i) acc[i] = _mm256_setzero_ps();
        for (int64_t d = 0; d < D; ++d) {
            const __m256 qd = _mm256_loadu_ps(m.qt + d * kLanes);
#pragma GCC unroll 8
            for (int64_t i = 0; i < kKeys; ++i) {
                acc[i] = _mm256_fmadd_ps(qd, _mm256_broadcast_ss(m.kf + i * D + d), acc[i]);
            }
        }
#pragma GCC unroll 8
        for (int64_t i = 0; i < kKeys; ++i) {
            if (i >= nk) break;
            const __m256 seen = _mm256_castsi256_ps(
                _mm256_cmpgt_epi32(limit, _mm256_set1_epi32(static_cast<int32_t>(j + i))));
            const __m256 s = _mm256_blendv_ps(neg_inf, _mm256_mul_ps(acc[i], _mm256_set1_ps(scale)), seen);
            _mm256_storeu_ps(m.p + (j + i) * kLanes, s);
            max_s = _mm256_max_ps(max_s, s);
        }
    }
    return max_s;
}

// p[j][8] = exp(p - max) / sum, the sum in double in key order, rounded to V's type.
template <bool VF16>
LMX_AVX2 void softmax_keys(float* p, int64_t n_kv, __m256 max_s) {
    __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
    for (int64_t j = 0; j < n_kv; ++j) {
        float* pj = p + j * kLanes;
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(pj), max_s));
        _mm256_storeu_ps(pj, e);
        sum_lo = _mm256_add_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum_hi = _mm256_add_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256 inv = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_div_pd(one, sum_hi)),
                                       _mm256_cvtpd_ps(_mm256_div_pd(one, sum_lo)));
    for (int64_t j = 0; j < n_kv; ++j) {
        float* pj = p + j * kLanes;
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(pj), inv);
        _mm256_storeu_ps(pj, VF16 ? round_f16(x) : x);
    }
}

// out[r][0 .. 16) = sum over keys j < n_kv of p[j][lane0 + r] * v_j[c0 .. c0 + 16), for the
// kRows rows whose out is not null; v_off: bytes into a V row of the head's first column (c0
// may fall inside a 32-value block, so it is an element index from there).
template <CacheKind VC>
LMX_AVX2 void weighted_v(const lmx_tensor& v, size_t v_off, int64_t c0, const float* p, int64_t lane0,
                         int64_t n_kv, float* const* out) {
    const size_t line = cache_bytes(v, c0 / 32 * 32), v_bytes = cache_bytes(v, 32);  // c0's block or 32 values
    __m256 acc[kRows][2];
#pragma GCC unroll 4
    for (int64_t r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n_kv; ++j) {
        const std::byte* row = row_ptr(v, j) + v_off;
        if (j + kPrefetchKeys < n_kv) prefetch_bytes(row_ptr(v, j + kPrefetchKeys) + v_off + line, v_bytes);
        const __m256 x0 = load8<VC>(v.dtype, row, c0), x1 = load8<VC>(v.dtype, row, c0 + 8);
        const float* pj = p + j * kLanes + lane0;
#pragma GCC unroll 4
        for (int64_t r = 0; r < kRows; ++r) {
            const __m256 pr = _mm256_broadcast_ss(pj + r);
            acc[r][0] = _mm256_fmadd_ps(pr, x0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(pr, x1, acc[r][1]);
        }
    }
    for (int64_t r = 0; r < kRows; ++r) {
        if (out[r] == nullptr) continue;
        _mm256_storeu_ps(out[r], acc[r][0]);
        _mm256_storeu_ps(out[r] + 8, acc[r][1]);
    }
}

// out[0 .. D) = q as the dot with a key of kind K sees it (ggml's vec_dot_type): as is (F32),
// rounded to f16 (F16), or quantized to Q8_0 by the activation quantizer and dequantized
// (Blocks). D is a multiple of 16, of 32 for Blocks.
template <CacheKind K>
LMX_AVX2 void q_for_keys(const float* q, float* out, int64_t D) {
    if constexpr (K == CacheKind::Blocks) {
        BlockQ8_0 blocks[kMaxBlockHeadDim / 32];
        kernels_for(DType::Q8_0, Isa::Avx2)->from_float(q, blocks, D);
        const auto* bytes = reinterpret_cast<const std::byte*>(blocks);
        for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(out + d, load8<K>(LMX_TYPE_Q8_0, bytes, d));
    } else {
        for (int64_t d = 0; d < D; d += 8) {
            const __m256 x = _mm256_loadu_ps(q + d);
            _mm256_storeu_ps(out + d, K == CacheKind::F16 ? round_f16(x) : x);
        }
    }
}

template <CacheKind KC, CacheKind VC>
LMX_AVX2 void attend_block(const lmx_node& node, const AttnShape& s, const AttnBlock& b, std::byte* scratch) {
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t D = s.head_dim;
    const Scratch m = Scratch::at(scratch, D);
    const auto kv_col = static_cast<int64_t>((b.h0 / s.group) * D);  // elements into a cache row
    const BlockLanes<kLanes> l = block_lanes<kLanes>(node, s, b);
    // Unused lanes score zeros against all n_kv rows (finite values nobody reads).
    for (int64_t r = 0; r < kLanes; ++r) {
        float* qr = m.q + r * D;
        if (l.q[r]) {
            q_for_keys<KC>(l.q[r], qr, D);
        } else {
            std::fill(qr, qr + D, 0.0f);
        }
    }
    for (int64_t d = 0; d < D; ++d) {
        for (int64_t r = 0; r < kLanes; ++r) m.qt[d * kLanes + r] = m.q[r * D + d];
    }

    const __m256 max_s = score_keys<KC>(k, cache_bytes(k, kv_col), D, l.n_kv,
                                          _mm256_load_si256(reinterpret_cast<const __m256i*>(l.limit)), s.scale, m);
    softmax_keys<VC == CacheKind::F16>(m.p, l.n_kv, max_s);
    const size_t v_off = cache_bytes(v, kv_col);
    for_v_passes<kRows, kCols>(l, D, [&](int64_t c0, int64_t, int64_t g, float* const* o, int64_t n_seen) {
        weighted_v<VC>(v, v_off, c0, m.p, g, n_seen, o);
    });
}

}  // namespace

size_t attend_block_avx2_scratch(int64_t head_dim, int64_t n_ctx) { return Scratch::bytes(head_dim, n_ctx); }

void attend_block_avx2(const lmx_node& node, const AttnShape& s, const AttnBlock& b, std::byte* scratch) {
    with_cache_kinds(node, [&](auto kc, auto vc) { attend_block<decltype(kc)::value, decltype(vc)::value>(node, s, b, scratch); });
}

}  // namespace llamux::cpu
