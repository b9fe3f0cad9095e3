// Prompt products for Q4_0, Q4_K, Q5_K and Q6_K (GemmKernels) on 256-bit vectors: weights
// times 16 activation columns at a time with no horizontal sums. For two files:
// kernels_avx2_gemm.cpp (compiled with -mavx2 -mfma -mf16c) and kernels_avxvnni_gemm.cpp (the
// same plus -mavxvnni, where each 4-element step is one vpdpbusd into int32 lanes and the
// int16 runs and their vpmaddwd below are not needed; sub-block scales then multiply int32
// sums with vpmulld). In an unnamed namespace: each file keeps its own copy.
//
// The 4x4 tiles (kernels_avx2_legacy.cpp) multiply one weight block with one column per
// vector and then fold each column's 8 lanes into one (shuffles, the scarce port). Here a
// vector holds 8 columns instead: the activations are packed so that 32 bytes are 4
// consecutive elements of each of 8 columns, and the 4 matching weight bytes are broadcast
// to every lane. vpmaddubsw then sums the products of each column in its own lanes; 8 such
// steps cover a 32-element block, summed in int16 (8 steps x 2 x 15 x 128 = 30720 fits), and
// one vpmaddwd widens them: lane c of the result is column c's integer dot. Weights are the
// stored values 0..15 (q + 8); the 8 * sum(a) that this adds is precomputed per column and
// block when the activations are packed. Then, per block, one multiply by d_w * d_a and an
// add per 8 dot products, in float (integer sums exact, so only the float order differs
// from vec_dot).
//
// Layouts (Q4_0; Q4_K's below):
//  - packed activations, a group of 16 columns: per block b, per half h (columns 8h..8h+7),
//    kHalfBytes: 8 steps of 32 bytes (step s: column c's elements 4s..4s+3 at bytes
//    4c..4c+3), 8 float scales d_a, 8 int32 8 * sum(q_a);
//  - scratch (per thread): 16 weight rows unpacked, per row and block kRowBytes: 32 bytes
//    0..15 in element order, then the block's scale as a float.
// On a Xeon (Sapphire Rapids) capped to AVX2, one thread (`llamux_bench_kernels`): Q4_0
// 100-105 GMAC/s against 48 for the 4x4 tiles, Q4_K 91-95 against 57, Q6_K 83 against 55.
//
// Q4_K (Q8_K activations) works the same way per 32-element sub-block s, whose int16 sums
// are widened by vpmaddwd against the sub-block's 6-bit scale instead of 1, so isum =
// sum_s sc_s (q . a)_s comes out exact in int32; the min term sum_s m_s sum(a)_s takes the
// activations' sub-block sums (packed beside them) two sub-blocks per vpmaddwd. Then
// d_w d_a isum - dmin_w d_a msum per super-block, the reference's formula.
#pragma once

#include <type_traits>

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kHalf = kGemmBlock / 2;  // columns per vector
constexpr size_t kSteps = 32 / 4;      // 4-element steps per 32 elements
static_assert(kGemmBlock == 16);

// kCount steps: one row's unpacked weight bytes q (0..15, or 0..31 for 4 steps), broadcast
// 4 at a time, times the activation vectors av of the same elements: each column's sums in
// its own int16 lanes (two per column), exact (see the bounds above).
template <size_t kCount = kSteps>
inline __m256i steps_times(const uint8_t* q, const __m256i* av) {
    __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi32(static_cast<int>(load_u32(q))), av[0]);
    for (size_t t = 1; t < kCount; ++t) {
        const __m256i wb = _mm256_set1_epi32(static_cast<int>(load_u32(q + 4 * t)));
        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wb, av[t]));
    }
    return s16;
}

#if defined(__AVXVNNI__)
// acc + kCount steps of one row's weight bytes q times the activation vectors av, each step one
// vpdpbusd: each column's sum in its own int32 lane, exact.
template <size_t kCount = kSteps>
inline __m256i steps_dot(__m256i acc, const uint8_t* q, const __m256i* av) {
    for (size_t t = 0; t < kCount; ++t) {
        acc = _mm256_dpbusd_avx_epi32(acc, _mm256_set1_epi32(static_cast<int>(load_u32(q + 4 * t))), av[t]);
    }
    return acc;
}

// The int16 scale in the low half of a multiplier word, as an int32 in every lane.
inline __m256i low_word(const uint8_t* word) {
    return _mm256_set1_epi32(static_cast<int16_t>(static_cast<uint16_t>(load_u32(word))));
}
#endif

// sum over p < n of the int16 pairs sums[32p ..) (column c at lanes 2c, 2c + 1) times the
// pair of int16 multipliers in word p of `words`: per column, an exact int32.
inline __m256i pair_products(const uint8_t* sums, const uint8_t* words, size_t n) {
    __m256i total = _mm256_setzero_si256();
    for (size_t p = 0; p < n; ++p) {
        const __m256i m = _mm256_set1_epi32(static_cast<int>(load_u32(words + 4 * p)));
        total = _mm256_add_epi32(total, _mm256_madd_epi16(loadu256(sums + 32 * p), m));
    }
    return total;
}

inline void store_columns(const __m256* acc, int n_rows, float* dst, size_t ldd) {
    for (int r = 0; r < n_rows; ++r) {
        float lanes[kHalf];
        _mm256_storeu_ps(lanes, acc[r]);
        for (int c = 0; c < kHalf; ++c) dst[static_cast<size_t>(c) * ldd + static_cast<size_t>(r)] = lanes[c];
    }
}

// ---- Q4_0 ---------------------------------------------------------------------------------
struct Q4_0Block {
    using Weight = BlockQ4_0;
    using Activation = BlockQ8_0;
    static constexpr int64_t kElems = kQK4_0;
    static constexpr size_t kHalfBytes = kSteps * 32 + 32 + 32;  // quants, d_a, 8 * sum(a)
    static constexpr size_t kRowBytes = 32 + sizeof(float);
    static constexpr int kTileRows = 4;  // 8 activation vectors + 4 accumulators

    static void pack_column(const BlockQ8_0& a, int lane, uint8_t* half) {
        for (size_t s = 0; s < kSteps; ++s) std::memcpy(half + 32 * s + 4 * lane, a.qs + 4 * s, 4);
        const float d = load_f16(&a.d);
        int32_t sum = 0;
        for (int j = 0; j < kQK8_0; ++j) sum += a.qs[j];
        const int32_t offset_sum = 8 * sum;
        std::memcpy(half + kSteps * 32 + 4 * lane, &d, 4);
        std::memcpy(half + kSteps * 32 + 32 + 4 * lane, &offset_sum, 4);
    }

    static void unpack(const BlockQ4_0& w, uint8_t* out) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), nibbles_lo_hi(w.qs));
        const float d = load_f16(&w.d);
        std::memcpy(out + 32, &d, 4);
    }

    // kTileRows unpacked rows (row_stride bytes apart) times one half group (blocks
    // group_block_bytes apart): dst[c * ldd + r].
    static void rows_times_half(int64_t nb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                                size_t group_block_bytes, float* dst, size_t ldd) {
        __m256 acc[kTileRows];
        for (__m256& a : acc) a = _mm256_setzero_ps();
        [[maybe_unused]] const __m256i ones = _mm256_set1_epi16(1);
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* a = half + static_cast<size_t>(b) * group_block_bytes;
            __m256i av[kSteps];
            for (size_t t = 0; t < kSteps; ++t) av[t] = loadu256(a + 32 * t);
            const __m256 da = _mm256_loadu_ps(reinterpret_cast<const float*>(a + kSteps * 32));
            const __m256i offset_sums = loadu256(a + kSteps * 32 + 32);
            for (int r = 0; r < kTileRows; ++r) {
                const uint8_t* w = rows + r * row_stride + static_cast<size_t>(b) * kRowBytes;
#if defined(__AVXVNNI__)
                const __m256i dots = steps_dot<kSteps>(_mm256_sub_epi32(_mm256_setzero_si256(), offset_sums), w, av);
#else
                const __m256i dots = _mm256_sub_epi32(_mm256_madd_epi16(steps_times<kSteps>(w, av), ones), offset_sums);
#endif
                const __m256 scale = _mm256_mul_ps(_mm256_broadcast_ss(reinterpret_cast<const float*>(w + 32)), da);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dots), acc[r]);
            }
        }
        store_columns(acc, kTileRows, dst, ldd);
    }
};

// ---- Q4_K ---------------------------------------------------------------------------------
// Packed activations, per super-block and half: 64 steps of 32 bytes as above, 8 float d_a,
// then 4 x 32 bytes of sub-block sums: pair p holds, for column c, sum(a) of sub-blocks 2p
// and 2p + 1 as int16 at lanes 2c, 2c + 1.
// Scratch, per row and super-block: 256 bytes 0..15 in element order, 8 words sc_s | sc_s << 16
// (a vpmaddwd multiplier by broadcast), 4 words m_2p | m_2p+1 << 16, then d and dmin as floats.
constexpr size_t kSubBlocks = kQK_K / 32;

// 6-bit scale and min of sub-block j (the reference's k4_scale_min, copied into each file
// that includes this header: see the note on out-of-line copies in simd_avx2.hpp).
inline void k4_scale_min_of(const uint8_t* packed, size_t j, uint32_t& sc, uint32_t& m) {
    if (j < 4) {
        sc = packed[j] & 63u;
        m = packed[j + 4] & 63u;
    } else {
        sc = (packed[j + 4] & 0xFu) | ((packed[j - 4] >> 6) << 4);
        m = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

// Q4_K, and Q5_K (kFive) whose fifth bit of element l of sub-block s is bit s of qh[l]:
// values up to 31 keep int16 sums to 4 steps (4 x 2 x 31 x 128 = 31744) before widening.
template <bool kFive>
struct K4Block {
    using Weight = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
    using Activation = BlockQ8_K;
    static constexpr int64_t kElems = kQK_K;
    static constexpr size_t kQuantBytes = kQK_K / 4 * 32;
    static constexpr size_t kHalfBytes = kQuantBytes + 32 + kSubBlocks / 2 * 32;  // 2208
    static constexpr size_t kScales = kQK_K, kMins = kScales + 4 * kSubBlocks, kDs = kMins + 2 * kSubBlocks;
    static constexpr size_t kRowBytes = kDs + 2 * sizeof(float);  // 312
    static constexpr int kTileRows = 2;  // 8 activation vectors + 2 x (isum, acc)

    static void pack_column(const BlockQ8_K& a, int lane, uint8_t* half) {
        for (size_t t = 0; t < kQK_K / 4; ++t) std::memcpy(half + 32 * t + 4 * lane, a.qs + 4 * t, 4);
        std::memcpy(half + kQuantBytes + 4 * lane, &a.d, 4);
        uint8_t* sums = half + kQuantBytes + 32;
        for (size_t sb = 0; sb < kSubBlocks; ++sb) {
            const auto sum = static_cast<int16_t>(a.bsums[2 * sb] + a.bsums[2 * sb + 1]);
            std::memcpy(sums + 32 * (sb / 2) + 4 * lane + 2 * (sb % 2), &sum, 2);
        }
    }

    static void unpack(const Weight& w, uint8_t* out) {
        const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
        for (size_t p = 0; p < kSubBlocks / 2; ++p) {  // qs[32p ..): sub-blocks 2p (low), 2p + 1 (high)
            const __m256i q = loadu256(w.qs + 32 * p);
            __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            if constexpr (kFive) {
                const __m256i qh = loadu256(w.qh);
                const auto bit = [&](int s) {  // bit s of each byte, moved to bit 4
                    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, s), one), 4);
                };
                lo = _mm256_or_si256(lo, bit(static_cast<int>(2 * p)));
                hi = _mm256_or_si256(hi, bit(static_cast<int>(2 * p + 1)));
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * p), lo);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 64 * p + 32), hi);
        }
        uint32_t sc[kSubBlocks], m[kSubBlocks];
        for (size_t j = 0; j < kSubBlocks; ++j) k4_scale_min_of(w.scales, j, sc[j], m[j]);
        for (size_t j = 0; j < kSubBlocks; ++j) {
            const uint32_t word = sc[j] | (sc[j] << 16);
            std::memcpy(out + kScales + 4 * j, &word, 4);
        }
        for (size_t p = 0; p < kSubBlocks / 2; ++p) {
            const uint32_t word = m[2 * p] | (m[2 * p + 1] << 16);
            std::memcpy(out + kMins + 4 * p, &word, 4);
        }
        const float d[2] = {load_f16(&w.d), load_f16(&w.dmin)};
        std::memcpy(out + kDs, d, sizeof d);
    }

    // Run sb (sub-block sb) of one row's super-block w times its 8 activation vectors.
    static __m256i run_sums(const uint8_t* w, size_t sb, const __m256i* av) {
#if defined(__AVXVNNI__)
        return _mm256_mullo_epi32(steps_dot<kSteps>(_mm256_setzero_si256(), w + 32 * sb, av),
                                  low_word(w + kScales + 4 * sb));
#else
        const __m256i scale = _mm256_set1_epi32(static_cast<int>(load_u32(w + kScales + 4 * sb)));
        if constexpr (kFive) {
            const uint8_t* q = w + 32 * sb;
            return _mm256_add_epi32(_mm256_madd_epi16(steps_times<4>(q, av), scale),
                                    _mm256_madd_epi16(steps_times<4>(q + 16, av + 4), scale));
        } else {
            return _mm256_madd_epi16(steps_times<kSteps>(w + 32 * sb, av), scale);
        }
#endif
    }

    // acc + d_w d_a isum - dmin_w d_a msum for one row's super-block w; a: the half group's.
    static __m256 scale_into(const uint8_t* w, const uint8_t* a, __m256i isum, __m256 acc) {
        const __m256 da = _mm256_loadu_ps(reinterpret_cast<const float*>(a + kQuantBytes));
        const __m256i msum = pair_products(a + kQuantBytes + 32, w + kMins, kSubBlocks / 2);
        const auto* dd = reinterpret_cast<const float*>(w + kDs);
        const __m256 d = _mm256_mul_ps(_mm256_set1_ps(dd[0]), da);
        const __m256 dmin = _mm256_mul_ps(_mm256_set1_ps(dd[1]), da);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        return _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(msum), acc);
    }

    static void rows_times_half(int64_t nsb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                                size_t group_block_bytes, float* dst, size_t ldd);
};

// ---- Q6_K ---------------------------------------------------------------------------------
// Values q - 32 with q = low 4 bits | high 2 bits << 4 in 0..63, 16 sub-blocks of 16 with
// int8 scales. The stored q multiply the activations unsigned; with q up to 63 a pair sum is
// up to 16128, so int16 sums span 2 steps (8 elements) before vpmaddwd widens them against
// the sub-block's scale. The offset comes back as 32 * sum_k sc_k sum(a)_k, from the
// activations' bsums (sums per 16) two sub-blocks per vpmaddwd; then d_w d_a isum.
// Packed activations, per super-block and half: 64 steps of 32 bytes, 8 float d_a, 8 x 32
// bytes of bsums pairs (pair p: column c's bsums 2p, 2p + 1 at int16 lanes 2c, 2c + 1).
// Scratch, per row and super-block: 256 bytes q (0..63), 16 words sc_k | sc_k << 16, 8 words
// sc_2p | sc_2p+1 << 16, d as a float.
struct Q6_KBlock {
    using Weight = BlockQ6_K;
    using Activation = BlockQ8_K;
    static constexpr int64_t kElems = kQK_K;
    static constexpr size_t kSub = kQK_K / 16;  // sub-blocks of 16
    static constexpr size_t kQuantBytes = kQK_K / 4 * 32;
    static constexpr size_t kHalfBytes = kQuantBytes + 32 + kSub / 2 * 32;  // 2336
    static constexpr size_t kScales = kQK_K, kPairs = kScales + 4 * kSub, kD = kPairs + 2 * kSub;
    static constexpr size_t kRowBytes = kD + sizeof(float);  // 356
    static constexpr int kTileRows = 2;

    static void pack_column(const BlockQ8_K& a, int lane, uint8_t* half) {
        for (size_t t = 0; t < kQK_K / 4; ++t) std::memcpy(half + 32 * t + 4 * lane, a.qs + 4 * t, 4);
        std::memcpy(half + kQuantBytes + 4 * lane, &a.d, 4);
        uint8_t* sums = half + kQuantBytes + 32;
        for (size_t p = 0; p < kSub / 2; ++p) std::memcpy(sums + 32 * p + 4 * lane, a.bsums + 2 * p, 4);
    }

    static void unpack(const BlockQ6_K& w, uint8_t* out) {
        // Elements 128h + 32p + l: low bits in ql[64h + 32 (p & 1) + l] (high nibble for
        // p >= 2), high bits at bit 2p of qh[32h + l].
        const __m256i low4 = _mm256_set1_epi8(0x0F), high2 = _mm256_set1_epi8(0x30);
        for (int h = 0; h < 2; ++h) {
            const __m256i qh = loadu256(w.qh + 32 * h);
            for (int p = 0; p < 4; ++p) {
                __m256i lo = loadu256(w.ql + 64 * h + 32 * (p & 1));
                if (p >= 2) lo = _mm256_srli_epi16(lo, 4);
                // bits 2p, 2p + 1 of qh moved to bits 4, 5
                const __m256i hi = 2 * p >= 4 ? _mm256_srli_epi16(qh, 2 * p - 4) : _mm256_slli_epi16(qh, 4 - 2 * p);
                const __m256i q = _mm256_or_si256(_mm256_and_si256(lo, low4), _mm256_and_si256(hi, high2));
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 128 * h + 32 * p), q);
            }
        }
        for (size_t k = 0; k < kSub; ++k) {
            const auto sc = static_cast<uint16_t>(static_cast<int16_t>(w.scales[k]));
            const uint32_t word = sc | (static_cast<uint32_t>(sc) << 16);
            std::memcpy(out + kScales + 4 * k, &word, 4);
        }
        for (size_t p = 0; p < kSub / 2; ++p) {
            const auto lo = static_cast<uint16_t>(static_cast<int16_t>(w.scales[2 * p]));
            const auto hi = static_cast<uint16_t>(static_cast<int16_t>(w.scales[2 * p + 1]));
            const uint32_t word = lo | (static_cast<uint32_t>(hi) << 16);
            std::memcpy(out + kPairs + 4 * p, &word, 4);
        }
        const float d = load_f16(&w.d);
        std::memcpy(out + kD, &d, 4);
    }

    // Run 32 elements (sub-blocks 2 run, 2 run + 1) of one row's super-block w.
    static __m256i run_sums(const uint8_t* w, size_t run, const __m256i* av) {
        const uint8_t* q = w + 32 * run;
#if defined(__AVXVNNI__)
        const __m256i zero = _mm256_setzero_si256();
        return _mm256_add_epi32(
            _mm256_mullo_epi32(steps_dot<4>(zero, q, av), low_word(w + kScales + 4 * (2 * run))),
            _mm256_mullo_epi32(steps_dot<4>(zero, q + 16, av + 4), low_word(w + kScales + 4 * (2 * run + 1))));
#else
        __m256i sums = _mm256_setzero_si256();
        for (size_t k = 0; k < 2; ++k) {  // sub-block 2 run + k: steps 4k .. 4k + 3
            const __m256i sc = _mm256_set1_epi32(static_cast<int>(load_u32(w + kScales + 4 * (2 * run + k))));
            for (size_t t = 4 * k; t < 4 * k + 4; t += 2) {  // int16 sums over 2 steps at most
                const __m256i s16 = _mm256_add_epi16(
                    _mm256_maddubs_epi16(_mm256_set1_epi32(static_cast<int>(load_u32(q + 4 * t))), av[t]),
                    _mm256_maddubs_epi16(_mm256_set1_epi32(static_cast<int>(load_u32(q + 4 * t + 4))), av[t + 1]));
                sums = _mm256_add_epi32(sums, _mm256_madd_epi16(s16, sc));
            }
        }
        return sums;
#endif
    }

    // acc + d_w d_a (isum - 32 sum_k sc_k sum(a)_k) for one row's super-block w.
    static __m256 scale_into(const uint8_t* w, const uint8_t* a, __m256i isum, __m256 acc) {
        const __m256 da = _mm256_loadu_ps(reinterpret_cast<const float*>(a + kQuantBytes));
        const __m256i offset = pair_products(a + kQuantBytes + 32, w + kPairs, kSub / 2);
        const __m256i dots = _mm256_sub_epi32(isum, _mm256_slli_epi32(offset, 5));
        const __m256 d = _mm256_mul_ps(_mm256_broadcast_ss(reinterpret_cast<const float*>(w + kD)), da);
        return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dots), acc);
    }

    static void rows_times_half(int64_t nsb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                                size_t group_block_bytes, float* dst, size_t ldd);
};

// kTileRows unpacked rows of a K-quant (row_stride bytes apart) times one half group: per
// super-block, 8 runs of 32 elements whose activation vectors stay in registers for all rows
// (T::run_sums), then each row's super-block scaled into its accumulator (T::scale_into).
template <typename T>
void kquant_rows_times_half(int64_t nsb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                            size_t group_block_bytes, float* dst, size_t ldd) {
    __m256 acc[T::kTileRows];
    for (__m256& v : acc) v = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; ++i) {
        const uint8_t* a = half + static_cast<size_t>(i) * group_block_bytes;
        const uint8_t* w0 = rows + static_cast<size_t>(i) * T::kRowBytes;
        __m256i isum[T::kTileRows];
        for (__m256i& v : isum) v = _mm256_setzero_si256();
        for (size_t run = 0; run < kQK_K / 32; ++run) {
            __m256i av[kSteps];
            for (size_t t = 0; t < kSteps; ++t) av[t] = loadu256(a + 32 * (kSteps * run + t));
            for (int r = 0; r < T::kTileRows; ++r) {
                isum[r] = _mm256_add_epi32(isum[r], T::run_sums(w0 + r * row_stride, run, av));
            }
        }
        for (int r = 0; r < T::kTileRows; ++r) acc[r] = T::scale_into(w0 + r * row_stride, a, isum[r], acc[r]);
    }
    store_columns(acc, T::kTileRows, dst, ldd);
}

template <bool kFive>
void K4Block<kFive>::rows_times_half(int64_t nsb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                                     size_t group_block_bytes, float* dst, size_t ldd) {
    kquant_rows_times_half<K4Block<kFive>>(nsb, rows, row_stride, half, group_block_bytes, dst, ldd);
}
void Q6_KBlock::rows_times_half(int64_t nsb, const uint8_t* rows, size_t row_stride, const uint8_t* half,
                                size_t group_block_bytes, float* dst, size_t ldd) {
    kquant_rows_times_half<Q6_KBlock>(nsb, rows, row_stride, half, group_block_bytes, dst, ldd);
}

// ---- the GemmKernels entries, for each type -----------------------------------------------
template <typename T>
struct Blocked {
    static_assert(kGemmBlock % T::kTileRows == 0);
    static constexpr size_t kGroupBlockBytes = 2 * T::kHalfBytes;

    static size_t group_bytes(int64_t n) { return static_cast<size_t>(n / T::kElems) * kGroupBlockBytes; }
    static size_t scratch_bytes(int64_t n) {
        return kGemmBlock * static_cast<size_t>(n / T::kElems) * T::kRowBytes;
    }

    static void pack(int64_t n, const void* a, size_t a_stride, void* group) {
        const int64_t nb = n / T::kElems;
        auto* out = static_cast<uint8_t*>(group);
        for (int c = 0; c < kGemmBlock; ++c) {
            const auto* col = row_at<typename T::Activation>(a, a_stride, c);
            for (int64_t b = 0; b < nb; ++b) {
                T::pack_column(col[b], c % kHalf,
                               out + static_cast<size_t>(b) * kGroupBlockBytes + (c / kHalf) * T::kHalfBytes);
            }
        }
    }

    // Each kGemmBlock rows are unpacked once into the scratch, then multiplied with every group.
    static void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups, size_t group_stride,
                     int64_t n_groups, float* dst, size_t ldd, void* scratch) {
        const int64_t nb = n / T::kElems;
        auto* rows = static_cast<uint8_t*>(scratch);
        const size_t row_stride = static_cast<size_t>(nb) * T::kRowBytes;
        for (int64_t r0 = 0; r0 < nr; r0 += kGemmBlock) {
            for (int r = 0; r < kGemmBlock; ++r) {
                const auto* row = row_at<typename T::Weight>(w, w_stride, static_cast<int>(r0 + r));
                for (int64_t b = 0; b < nb; ++b) {
                    T::unpack(row[b], rows + r * row_stride + static_cast<size_t>(b) * T::kRowBytes);
                }
            }
            for (int64_t j = 0; j < n_groups; ++j) {
                const auto* group = static_cast<const uint8_t*>(groups) + static_cast<size_t>(j) * group_stride;
                for (int h = 0; h < 2; ++h) {
                    for (int r = 0; r < kGemmBlock; r += T::kTileRows) {
                        T::rows_times_half(nb, rows + r * row_stride, row_stride, group + h * T::kHalfBytes,
                                           kGroupBlockBytes,
                                           dst + static_cast<size_t>(j * kGemmBlock + h * kHalf) * ldd +
                                               static_cast<size_t>(r0 + r),
                                           ldd);
                    }
                }
            }
        }
    }

    static constexpr GemmKernels kernels() { return {&group_bytes, &scratch_bytes, &pack, &gemm}; }
};

}  // namespace
}  // namespace llamux::cpu
