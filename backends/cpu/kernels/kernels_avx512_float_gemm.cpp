// AVX-512 block products (GemmKernels) for F16 and BF16 weights, for CPUs without AMX.
// Compiled only with the AVX-512 flags; called only after detect_isa() found them.
//
// The 4x4 tiles (kernels_avx512_float.cpp) widen every weight and activation vector to f32
// inside the loop: 8 conversions beside 16 FMAs, on the same two ports. Here both sides are
// widened once: 16 weight rows into per-thread scratch (f32, in blocks of 16 elements: 16
// rows x 16 floats per block, so that every broadcast in the unrolled inner loop is a
// constant offset from one pointer), 16 activation columns into a packed group (f32,
// element k of the 16 columns in one vector). The inner loop then multiplies 8 rows by two
// groups: per element 2 vector loads, 8 broadcast weights and 16 FMAs,
// acc[r][g] (16 columns) += w[r][k] * a_g[k][0..15]. One group against all 16 rows (17 loads
// per 16 FMAs) ran at 85% of the FMA units' rate on a Zen 5 core, limited by loads; 8 x 2
// runs at 99% (docs/performance.md, "F16 and BF16 prompts on Zen 5"). A last odd group
// takes the one-group loop.
// Products and sums are those of the tiles in another order, so results equal vec_dot's up
// to float summation order.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include <cstdint>
#include <cstring>

#include "half_values_avx512.hpp"
#include "kernels_internal.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kRows = kGemmBlock;  // weight rows and activation columns of one block

using half::load_widened;

int64_t padded(int64_t n) { return (n + 15) / 16 * 16; }

size_t group_bytes(int64_t n) { return static_cast<size_t>(padded(n)) * kRows * sizeof(float); }
size_t scratch_bytes(int64_t n) { return static_cast<size_t>(padded(n)) * kRows * sizeof(float); }

// 16 converted columns (a, a + a_stride bytes, ...) into [k][16] floats, zero past n up to
// padded(n).
template <typename V>
void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    auto* out = static_cast<float*>(group);
    const auto* base = static_cast<const unsigned char*>(a);
    const __m512i columns = simd::lane_offsets(a_stride);
    // Lanes of the 32 values of a gathered pair (column c's elements k, k + 1 at 2c, 2c + 1)
    // for element k, then for element k + 1.
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t k = 0;
    for (; k + 1 < n; k += 2) {
        const __m512i pairs = _mm512_i32gather_epi32(columns, base + 2 * k, 1);
        const __m512 lo = V::widen(_mm512_castsi512_si256(pairs));
        const __m512 hi = V::widen(_mm512_extracti64x4_epi64(pairs, 1));
        _mm512_storeu_ps(out + k * kRows, _mm512_permutex2var_ps(lo, even, hi));
        _mm512_storeu_ps(out + (k + 1) * kRows, _mm512_permutex2var_ps(lo, odd, hi));
    }
    if (k < n) {  // the last element alone: never read past a column
        alignas(64) uint16_t last[kRows];
        for (int c = 0; c < kRows; ++c) std::memcpy(&last[c], base + static_cast<size_t>(c) * a_stride + 2 * k, 2);
        _mm512_storeu_ps(out + k * kRows, V::widen(_mm256_load_si256(reinterpret_cast<const __m256i*>(last))));
        ++k;
    }
    for (; k < padded(n); ++k) _mm512_storeu_ps(out + k * kRows, _mm512_setzero_ps());
}

// 16 weight rows into f32 blocks: block b holds rows 0..15's elements 16b .. 16b + 15, 16
// floats per row (zero past n).
template <typename V>
void unpack(int64_t n, const void* w, size_t w_stride, float* panel) {
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const uint16_t*>(static_cast<const unsigned char*>(w) +
                                                            static_cast<size_t>(r) * w_stride);
        for (int64_t k = 0; k < n; k += 16) {
            _mm512_storeu_ps(panel + (k + r) * kRows, load_widened<V>(row + k, n - k));
        }
    }
}

// acc[r] = row r's products with the group's 16 columns, over padded(n) elements.
inline void panel_times_group(int64_t n, const float* panel, const float* group, __m512 (&acc)[kRows]) {
    for (__m512& v : acc) v = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += 16) {
        const float* wb = panel + k0 * kRows;  // this block: wb[16 r + i] = w[r][k0 + i]
        const float* ab = group + k0 * kRows;  // ab[16 i + c] = a[k0 + i][c]
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
            const __m512 a = _mm512_loadu_ps(ab + i * kRows);
#pragma GCC unroll 16
            for (int r = 0; r < kRows; ++r) {
                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(wb[r * 16 + i]), a, acc[r]);
            }
        }
    }
}

constexpr int kHalf = kRows / 2;

// acc[r][g] = panel row (first + r)'s products with group g's 16 columns, r < 8, g < 2.
inline void half_panel_times_two_groups(int64_t n, const float* panel, int first, const float* group0,
                                        const float* group1, __m512 (&acc)[kHalf][2]) {
    for (auto& row : acc) row[0] = row[1] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < n; k0 += 16) {
        const float* wb = panel + k0 * kRows + first * 16;
        const float* a0 = group0 + k0 * kRows;
        const float* a1 = group1 + k0 * kRows;
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
            const __m512 x0 = _mm512_loadu_ps(a0 + i * kRows);
            const __m512 x1 = _mm512_loadu_ps(a1 + i * kRows);
#pragma GCC unroll 8
            for (int r = 0; r < kHalf; ++r) {
                const __m512 w = _mm512_set1_ps(wb[r * 16 + i]);
                acc[r][0] = _mm512_fmadd_ps(w, x0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(w, x1, acc[r][1]);
            }
        }
    }
}

const float* group_at(const void* groups, size_t group_stride, int64_t j) {
    return reinterpret_cast<const float*>(static_cast<const unsigned char*>(groups) +
                                          static_cast<size_t>(j) * group_stride);
}

template <typename V>
void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
          size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    auto* panel = static_cast<float*>(scratch);
    const __m512i columns = simd::lane_offsets(ldd);
    for (int64_t r0 = 0; r0 < nr; r0 += kRows) {
        unpack<V>(n, static_cast<const unsigned char*>(w) + static_cast<size_t>(r0) * w_stride, w_stride, panel);
        int64_t j = 0;
        for (; j + 1 < n_groups; j += 2) {
            float* out0 = dst + static_cast<size_t>(j) * kRows * ldd + r0;
            float* out1 = out0 + static_cast<size_t>(kRows) * ldd;
            for (int first = 0; first < kRows; first += kHalf) {
                __m512 acc[kHalf][2];
                half_panel_times_two_groups(n, panel, first, group_at(groups, group_stride, j),
                                            group_at(groups, group_stride, j + 1), acc);
                for (int r = 0; r < kHalf; ++r) {
                    _mm512_i32scatter_ps(out0 + first + r, columns, acc[r][0], 4);
                    _mm512_i32scatter_ps(out1 + first + r, columns, acc[r][1], 4);
                }
            }
        }
        if (j < n_groups) {
            __m512 acc[kRows];
            panel_times_group(n, panel, group_at(groups, group_stride, j), acc);
            float* out = dst + static_cast<size_t>(j) * kRows * ldd + r0;
            for (int r = 0; r < kRows; ++r) _mm512_i32scatter_ps(out + r, columns, acc[r], 4);
        }
    }
}

// Every column in one call: widening 16 weight rows costs more than streaming f32 groups from
// L3 (1.1B F16 pp512 on Zen 5, 2 threads: 157 t/s with the driver's 1 MiB of groups per
// call, 174 with 2 MiB, 184 with 4, 190 with all).
template <typename V>
constexpr GemmKernels gemm_kernels() {
    return {&group_bytes, &scratch_bytes, &pack<V>, &gemm<V>, SIZE_MAX};
}

}  // namespace

const GemmKernels f16_gemm_avx512 = gemm_kernels<half::F16>();
const GemmKernels bf16_gemm_avx512 = gemm_kernels<half::BF16>();

}  // namespace llamux::cpu
