// The products on repacked weights (Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, in the layouts of
// packed_rows.hpp) with 256-bit vectors, for two files: kernels_avx2_packed.cpp, compiled with
// -mavx2 -mfma -mf16c, and kernels_avxvnni_packed.cpp, the same plus -mavxvnni. In an unnamed
// namespace, like packed_rows.hpp, so each file keeps its own copy.
//
// A 256-bit vector holds 8 of a group's 16 rows, so each group is read as two halves. Per
// block and half, the stored values (0..15 or 0..31, unsigned) of 4 chunk slices are
// multiplied with broadcast dwords of activations: each row's products stay in its own lanes,
// no horizontal sum. Without AVX-VNNI that is vpmaddubsw, whose 8 steps of a block are summed
// in int16 (8 x 2 x 15 x 127 = 30480 fits; 5-bit values 4 steps at a time) and widened by
// vpmaddwd; with it, vpdpbusd adds each step's products straight into int32 lanes. The
// stored quants' offset comes back as kOffset * sum(a), a min as m * d_a * sum(a), both from
// sums computed once per call.
// Integer sums are exact; only float order differs from vec_dot. Without AVX-VNNI, Q8_0's
// stored bytes (q + 128) would overflow vpmaddubsw's int16 pairs, so its values go back to
// signed and the sign moves onto the activations, as in the AVX2 tiles; vpdpbusd sums in
// int32 and takes them as stored, like the other types.
#pragma once

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "packed_rows.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;
using packed::ActBlocks;

constexpr int kRows = kPackedRows;
constexpr int kHalfRows = kRows / 2;  // rows per vector
// Software prefetch distance, in blocks of a group: on a Zen 5 capped to AVX2, 1.1B Q4_0
// tg64 (A/B interleaved) 2 blocks 66-67 t/s, 4 69-74, 8 74-76, 16 77-80, 32 73-75, 64 72-73.
constexpr size_t kPrefetchBlocks = 16;

#if defined(__AVXVNNI__)
constexpr bool kVnni = true;
#else
constexpr bool kVnni = false;
#endif

// Rows 8h .. 8h + 7 of one block (block: its first byte) as 8 vectors, vector k holding in
// int32 lane r row 8h + r's elements 4k .. 4k + 3: as stored (q + kOffset, unsigned), but
// Q8_0 as the signed q where vpmaddubsw multiplies them.
template <typename Rows>
inline void unpack_half(const uint8_t* block, int h, __m256i (&q)[8]) {
    if constexpr (!Rows::kNibbles) {
        const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
        for (int k = 0; k < 8; ++k) {
            q[k] = loadu256(block + 64 * k + 32 * h);
            if constexpr (!kVnni) q[k] = _mm256_xor_si256(q[k], flip);
        }
        return;
    }
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int p = 0; p < 4; ++p) {
        const __m256i bytes = loadu256(block + 64 * p + 32 * h);
        q[2 * p] = _mm256_and_si256(bytes, low);
        q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
    }
    if constexpr (Rows::kFifthBits) {
        const __m256i high = loadu256(block + Rows::kNibbleBytes + 32 * h), bit4 = _mm256_set1_epi8(0x10);
        for (int k = 0; k < 8; ++k) {
            const __m256i moved = k < 4 ? _mm256_slli_epi32(high, 4 - k) : _mm256_srli_epi32(high, k - 4);
            q[k] = _mm256_or_si256(q[k], _mm256_and_si256(moved, bit4));
        }
    }
}

// Unpacked rows q times the activation block's quants aq: int32 lane r = sum_e q[r][e] *
// a[e] - bias. With AVX-VNNI: one vpdpbusd per step. Without: int16 sums run over 8 steps
// for values up to 15, 4 for values up to 31 (4 x 2 x 31 x 127 = 31496); Q8_0's signed values
// take |q| times a with q's sign (exact for every q, -128 included: a pair sums to at most
// 2 x 128 x 127), widened at every step, and no bias (they are not offset there).
template <typename Rows>
inline __m256i half_dot(const __m256i (&q)[8], const int8_t* aq, int32_t bias) {
    const auto broadcast = [&](int k) { return _mm256_set1_epi32(static_cast<int>(load_u32(aq + 4 * k))); };
#if defined(__AVXVNNI__)
    __m256i s32 = _mm256_set1_epi32(-bias);
    for (int k = 0; k < 8; ++k) s32 = _mm256_dpbusd_avx_epi32(s32, q[k], broadcast(k));
    return s32;
#else
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (!Rows::kNibbles) {
        __m256i s32 = _mm256_setzero_si256();
        for (int k = 0; k < 8; ++k) {
            const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(q[k]), _mm256_sign_epi8(broadcast(k), q[k]));
            s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(pairs, ones));
        }
        return s32;
    }
    constexpr int kRun = Rows::kFifthBits ? 4 : 8;
    __m256i s32 = _mm256_set1_epi32(-bias);
    for (int k0 = 0; k0 < 8; k0 += kRun) {
        __m256i s16 = _mm256_setzero_si256();
        for (int k = k0; k < k0 + kRun; ++k) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(q[k], broadcast(k)));
        s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(s16, ones));
    }
    return s32;
#endif
}

// acc + one block's contribution to rows 8h .. 8h + 7 (q: those rows unpacked; activation
// block i of p, quants aq).
template <typename Rows>
inline __m256 half_step(const __m256i (&q)[8], const uint8_t* block, int h, const int8_t* aq, const ActBlocks& p,
                        int64_t i, __m256 acc) {
    const __m256i dot = half_dot<Rows>(q, aq, p.bias[i]);
    const __m256 d = _mm256_cvtph_ps(loadu128(block + Rows::kQuantBytes + 16 * h));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(d, _mm256_set1_ps(p.da[i])), acc);
    if constexpr (Rows::kMin) {
        const __m256 m = _mm256_cvtph_ps(loadu128(block + Rows::kQuantBytes + 2 * kRows + 16 * h));
        acc = _mm256_fmadd_ps(m, _mm256_set1_ps(p.da_sum[i]), acc);
    }
    return acc;
}

// The same, unpacking the rows first.
template <typename Rows>
inline __m256 unpack_step(const uint8_t* block, int h, const int8_t* aq, const ActBlocks& p, int64_t i, __m256 acc) {
    __m256i q[8];
    unpack_half<Rows>(block, h, q);
    return half_step<Rows>(q, block, h, aq, p, i, acc);
}

// 8 rows' sums to out (added to what is there when `accumulate`).
inline void store_half(float* out, __m256 v, bool accumulate) {
    _mm256_storeu_ps(out, accumulate ? _mm256_add_ps(v, _mm256_loadu_ps(out)) : v);
}
inline void store_group(float* out, __m256 lo, __m256 hi, bool accumulate) {
    store_half(out, lo, accumulate);
    store_half(out + kHalfRows, hi, accumulate);
}

// The products on repacked rows, for packed::PackedProducts.
struct Products {
    // Rows of groups g0..g1 over blocks [b0, b1), added to y when `accumulate`: one group at a
    // time, unlike the AVX-512 GEMV's interleaved runs from distant parts of the range. On a
    // Zen 5 capped to AVX2, 1.1B tg64 on 2 threads, one group against two interleaved
    // (interleaved A/B runs): Q4_0 51 against 44 t/s, Q4_1 49 against 44, Q5_0 45 against 39,
    // Q5_1 40 against 40-42.
    template <typename Rows>
    static void gemv_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const BlockQ8_0* a,
                            const ActBlocks& p, int64_t b0, int64_t b1, bool accumulate, float* y) {
        for (int64_t g = g0; g < g1; ++g) {
            __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
            for (int64_t b = b0; b < b1; ++b) {
                const uint8_t* c = packed::block_prefetching<Rows, kPrefetchBlocks>(base, nb, g, b);
                lo = unpack_step<Rows>(c, 0, a[b].qs, p, b - b0, lo);
                hi = unpack_step<Rows>(c, 1, a[b].qs, p, b - b0, hi);
            }
            store_group(y + g * kRows, lo, hi, accumulate);
        }
    }

    // NC columns at once (prompts: this level has no block product on repacked rows): one half
    // of a group at a time, its 8 vectors unpacked once per block for the NC columns.
    template <typename Rows, int NC>
    static void columns_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const uint8_t* act,
                               size_t a_stride, int64_t b0, int64_t b1, bool accumulate, float* y, size_t ldy) {
        const packed::PreparedColumns<Rows, NC> prepared(act, a_stride, b0, b1);
        const ActBlocks* p = prepared.p;
        const BlockQ8_0* const* col = prepared.col;
        for (int64_t g = g0; g < g1; ++g) {
            for (int h = 0; h < 2; ++h) {
                __m256 acc[NC];
                for (__m256& v : acc) v = _mm256_setzero_ps();
                for (int64_t b = b0; b < b1; ++b) {
                    const uint8_t* blk = packed::block_at<Rows>(base, nb, g, b);
                    __m256i q[8];
                    unpack_half<Rows>(blk, h, q);
                    for (int c = 0; c < NC; ++c) {
                        acc[c] = half_step<Rows>(q, blk, h, col[c][b].qs, p[c], b - b0, acc[c]);
                    }
                }
                float* out = y + static_cast<size_t>(g * kRows + h * kHalfRows);
                for (int c = 0; c < NC; ++c) store_half(out + static_cast<size_t>(c) * ldy, acc[c], accumulate);
            }
        }
    }
};

}  // namespace
}  // namespace llamux::cpu
