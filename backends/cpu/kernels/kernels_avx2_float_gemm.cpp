// AVX2 block products (GemmKernels) for F16 and BF16 weights: prompts on CPUs without
// AVX-512 (most desktops and laptops). Compiled only with -mavx2 -mfma -mf16c; called only
// after detect_isa() found AVX2.
//
// The 4x2 tiles (kernels_avx2_float.cpp) widen 4 weight and 2 activation vectors for every
// 8 FMAs, and the conversions share ports with the FMAs. Here both sides are widened once, as
// in kernels_avx512_float_gemm.cpp: 16 weight rows into per-thread scratch (f32, in blocks of
// 8 elements: 16 rows x 8 floats per block, so that every broadcast in the unrolled inner loop
// is a constant offset from one pointer), 16 activation columns into a packed group (f32,
// element k of the 16 columns in two vectors). The inner loop multiplies 6 rows by the
// group: per element 2 vector loads, 6 broadcast weights and 12 FMAs into 12 accumulators,
// which with the 2 loaded vectors and a broadcast is 15 of the 16 vector registers. The 16
// rows of a panel go as 6, 5 and 5 (10 accumulators still cover the FMA latency; 6, 6 and 4
// ran 3% slower on a Zen 5 capped to AVX2: 59.7 against 61.8 GMAC/s, one thread).
// Products and sums are those of the tiles in another order, so results equal vec_dot's up
// to float summation order.
#include <cstdint>
#include <cstring>

#include "kernels_internal.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kRows = kGemmBlock;  // weight rows and activation columns of one block
constexpr int kStep = 8;           // elements per panel block, floats per vector

// ---- element formats: 8 halves as floats, and one ----------------------------------------

struct F16 {
    static __m256 widen(__m128i h) { return _mm256_cvtph_ps(h); }
    static float one(uint16_t h) { return _cvtsh_ss(h); }
};
struct BF16 {
    static __m256 widen(__m128i h) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    static float one(uint16_t h) {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        float f = 0.0f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
};

int64_t padded(int64_t n) { return (n + kStep - 1) / kStep * kStep; }

size_t group_bytes(int64_t n) { return static_cast<size_t>(padded(n)) * kRows * sizeof(float); }
size_t scratch_bytes(int64_t n) { return static_cast<size_t>(padded(n)) * kRows * sizeof(float); }

uint16_t half_at(const unsigned char* base, size_t stride, int c, int64_t k) {
    uint16_t h = 0;
    std::memcpy(&h, base + static_cast<size_t>(c) * stride + 2 * static_cast<size_t>(k), sizeof h);
    return h;
}

// Transposes 8 vectors in place: afterwards v[i] lane j is what v[j] lane i was.
inline void transpose8(__m256 (&v)[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// 16 converted columns (a, a + a_stride bytes, ...) into [k][16] floats, zero past n up to
// padded(n): 8 elements of 8 columns at a time, widened and transposed.
template <typename V>
void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    auto* out = static_cast<float*>(group);
    const auto* base = static_cast<const unsigned char*>(a);
    int64_t k = 0;
    for (; k + kStep <= n; k += kStep) {
        for (int half = 0; half < kRows; half += 8) {
            __m256 v[8];
            for (int c = 0; c < 8; ++c) {
                v[c] = V::widen(loadu128(base + static_cast<size_t>(half + c) * a_stride + 2 * static_cast<size_t>(k)));
            }
            transpose8(v);
            for (int i = 0; i < 8; ++i) _mm256_storeu_ps(out + (k + i) * kRows + half, v[i]);
        }
    }
    for (; k < padded(n); ++k) {  // the last elements one by one: never read past a column
        for (int c = 0; c < kRows; ++c) out[k * kRows + c] = k < n ? V::one(half_at(base, a_stride, c, k)) : 0.0f;
    }
}

// 16 weight rows into f32 blocks: block b holds rows 0..15's elements 8b .. 8b + 7, 8 floats
// per row (zero past n).
template <typename V>
void unpack(int64_t n, const void* w, size_t w_stride, float* panel) {
    const auto* base = static_cast<const unsigned char*>(w);
    for (int r = 0; r < kRows; ++r) {
        const unsigned char* row = base + static_cast<size_t>(r) * w_stride;
        int64_t k = 0;
        for (; k + kStep <= n; k += kStep) {
            _mm256_storeu_ps(panel + k * kRows + r * kStep, V::widen(loadu128(row + 2 * k)));
        }
        for (; k < padded(n); ++k) {
            panel[(k / kStep) * kStep * kRows + r * kStep + k % kStep] =
                k < n ? V::one(half_at(row, 0, 0, k)) : 0.0f;
        }
    }
}

// acc[r][h] = panel row (first + r)'s products with columns 8h .. 8h + 7 of the group, over
// padded(n) elements.
template <int R>
inline void rows_times_group(int64_t n, const float* panel, int first, const float* group, __m256 (&acc)[R][2]) {
    for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += kStep) {
        const float* wb = panel + k0 * kRows + first * kStep;  // wb[8 r + i] = w[first + r][k0 + i]
        const float* ab = group + k0 * kRows;                  // ab[16 i + c] = a[k0 + i][c]
#pragma GCC unroll 8
        for (int i = 0; i < kStep; ++i) {
            const __m256 x0 = _mm256_loadu_ps(ab + i * kRows);
            const __m256 x1 = _mm256_loadu_ps(ab + i * kRows + 8);
#pragma GCC unroll 6
            for (int r = 0; r < R; ++r) {
                const __m256 wv = _mm256_broadcast_ss(wb + r * kStep + i);
                acc[r][0] = _mm256_fmadd_ps(wv, x0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(wv, x1, acc[r][1]);
            }
        }
    }
}

// Rows first .. first + R - 1 of the panel times one group, written to out (out[c * ldd + r]).
template <int R>
void store_rows(int64_t n, const float* panel, int first, const float* group, float* out, size_t ldd) {
    __m256 acc[R][2];
    rows_times_group<R>(n, panel, first, group, acc);
    for (int r = 0; r < R; ++r) {
        alignas(32) float sums[kRows];
        _mm256_store_ps(sums, acc[r][0]);
        _mm256_store_ps(sums + 8, acc[r][1]);
        for (int c = 0; c < kRows; ++c) out[static_cast<size_t>(c) * ldd + first + r] = sums[c];
    }
}

template <typename V>
void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
          size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    auto* panel = static_cast<float*>(scratch);
    for (int64_t r0 = 0; r0 < nr; r0 += kRows) {
        unpack<V>(n, static_cast<const unsigned char*>(w) + static_cast<size_t>(r0) * w_stride, w_stride, panel);
        for (int64_t j = 0; j < n_groups; ++j) {
            const auto* group = reinterpret_cast<const float*>(static_cast<const unsigned char*>(groups) +
                                                               static_cast<size_t>(j) * group_stride);
            float* out = dst + static_cast<size_t>(j) * kRows * ldd + r0;
            store_rows<6>(n, panel, 0, group, out, ldd);
            store_rows<5>(n, panel, 6, group, out, ldd);
            store_rows<5>(n, panel, 11, group, out, ldd);
        }
    }
}

// Every column in one call, as the AVX-512 kernels: a weight panel is widened once per batch.
template <typename V>
constexpr GemmKernels gemm_kernels() {
    return {&group_bytes, &scratch_bytes, &pack<V>, &gemm<V>, SIZE_MAX};
}

}  // namespace

const GemmKernels f16_gemm_avx2 = gemm_kernels<F16>();
const GemmKernels bf16_gemm_avx2 = gemm_kernels<BF16>();

}  // namespace llamux::cpu
