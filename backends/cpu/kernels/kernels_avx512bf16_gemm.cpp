// AVX-512 BF16 block products (GemmKernels) for BF16 weights, for CPUs with AVX512_BF16 and
// without AMX. Compiled only with the AVX-512 and AVX512_BF16 flags; chosen only after
// has_avx512_bf16() found the instructions.
//
// vdpbf16ps multiplies pairs of bf16 values and adds both exact products to an f32 lane:
// 32 multiply-adds per instruction, twice an f32 FMA's 16, on operands that need no widening.
// BF16 activations are already bf16 (llama.cpp's vec_dot_type for BF16 weights), so the
// products are those of the widened kernels and the sums are f32 sums in another order
// (inputs and results below f32's normal range are flushed to zero, 1e-38).
//
// A group holds 16 activation columns as pairs: 32-bit lane c of pair p is (a[2p][c],
// a[2p + 1][c]). Weight rows are read in place: the pair (w[r][2p], w[r][2p + 1]) is one
// 32-bit broadcast, so nothing is unpacked. Per pair, 8 rows times 2 groups: 2 vector loads,
// 8 broadcasts and 16 vdpbf16ps (the layout that keeps the F16 kernel's FMAs busy,
// kernels_avx512_float_gemm.cpp); a last odd group takes 16 rows at once. An odd element
// count ends in a half pair: the group stores (a[n - 1], 0) and the weight's broadcast its
// last element alone, so no row is read past its end.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#if !defined(__AVX512BF16__)
#error "kernels_avx512bf16_gemm.cpp: compile with -mavx512bf16"
#endif

#include <bit>
#include <cstdint>
#include <cstring>

#include "kernels_internal.hpp"

namespace llamux::cpu {
namespace {

constexpr int kRows = kGemmBlock;  // weight rows and activation columns of one block
constexpr int kPairBytes = kRows * 4;  // one pair of 16 columns

int64_t pairs(int64_t n) { return (n + 1) / 2; }

size_t group_bytes(int64_t n) { return static_cast<size_t>(pairs(n)) * kPairBytes; }
size_t scratch_bytes(int64_t) { return 0; }

// 16 bf16 columns (a, a + a_stride bytes, ...) into pairs; never reads past a column's n
// values.
void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    auto* out = static_cast<unsigned char*>(group);
    const auto* base = static_cast<const unsigned char*>(a);
    const __m512i columns = simd::lane_offsets(a_stride);
    int64_t p = 0;
    for (; 2 * p + 1 < n; ++p) {
        _mm512_storeu_si512(out + p * kPairBytes, _mm512_i32gather_epi32(columns, base + 4 * p, 1));
    }
    if (2 * p < n) {  // the half pair
        alignas(64) uint32_t last[kRows] = {};
        for (int c = 0; c < kRows; ++c) {
            std::memcpy(&last[c], base + static_cast<size_t>(c) * a_stride + 4 * p, 2);
        }
        _mm512_storeu_si512(out + p * kPairBytes, _mm512_load_si512(last));
    }
}

inline __m512bh as_bf16(__m512i v) { return std::bit_cast<__m512bh>(v); }

inline uint32_t pair_at(const unsigned char* row, int64_t p) {
    uint32_t v;
    std::memcpy(&v, row + 4 * p, 4);
    return v;
}

// acc[r][g] = products of rows w, w + w_stride bytes, ... (R of them) with groups[g]'s 16
// columns, over n elements.
template <int R, int G>
inline void rows_times_groups(int64_t n, const unsigned char* w, size_t w_stride,
                              const unsigned char* const (&groups)[G], __m512 (&acc)[R][G]) {
    for (auto& row : acc) {
        for (__m512& v : row) v = _mm512_setzero_ps();
    }
    const int64_t whole = n / 2;
    for (int64_t p = 0; p < whole; ++p) {
        __m512bh x[G];
        for (int g = 0; g < G; ++g) x[g] = as_bf16(_mm512_loadu_si512(groups[g] + p * kPairBytes));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const __m512bh wr = as_bf16(_mm512_set1_epi32(static_cast<int>(pair_at(w + r * w_stride, p))));
            for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], wr, x[g]);
        }
    }
    if (n % 2 != 0) {  // the half pair: the weight's last element, 0 beside it
        __m512bh x[G];
        for (int g = 0; g < G; ++g) x[g] = as_bf16(_mm512_loadu_si512(groups[g] + whole * kPairBytes));
        for (int r = 0; r < R; ++r) {
            uint16_t last;
            std::memcpy(&last, w + r * w_stride + 2 * (n - 1), 2);
            const __m512bh wr = as_bf16(_mm512_set1_epi32(last));
            for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], wr, x[g]);
        }
    }
}

const unsigned char* group_at(const void* groups, size_t group_stride, int64_t j) {
    return static_cast<const unsigned char*>(groups) + static_cast<size_t>(j) * group_stride;
}

void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
          size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void*) {
    const __m512i columns = simd::lane_offsets(ldd);
    const auto* wb = static_cast<const unsigned char*>(w);
    constexpr int kHalf = kRows / 2;
    for (int64_t r0 = 0; r0 < nr; r0 += kRows) {
        int64_t j = 0;
        for (; j + 1 < n_groups; j += 2) {
            const unsigned char* const two[2] = {group_at(groups, group_stride, j),
                                                 group_at(groups, group_stride, j + 1)};
            float* out0 = dst + static_cast<size_t>(j) * kRows * ldd + r0;
            float* out1 = out0 + static_cast<size_t>(kRows) * ldd;
            for (int first = 0; first < kRows; first += kHalf) {
                __m512 acc[kHalf][2];
                rows_times_groups<kHalf, 2>(n, wb + static_cast<size_t>(r0 + first) * w_stride, w_stride, two, acc);
                for (int r = 0; r < kHalf; ++r) {
                    _mm512_i32scatter_ps(out0 + first + r, columns, acc[r][0], 4);
                    _mm512_i32scatter_ps(out1 + first + r, columns, acc[r][1], 4);
                }
            }
        }
        if (j < n_groups) {
            const unsigned char* const one[1] = {group_at(groups, group_stride, j)};
            __m512 acc[kRows][1];
            rows_times_groups<kRows, 1>(n, wb + static_cast<size_t>(r0) * w_stride, w_stride, one, acc);
            float* out = dst + static_cast<size_t>(j) * kRows * ldd + r0;
            for (int r = 0; r < kRows; ++r) _mm512_i32scatter_ps(out + r, columns, acc[r][0], 4);
        }
    }
}

}  // namespace

// Every column in one call, so each weight row comes from memory once (1.1B BF16 pp512 on
// Zen 5, 2 threads: 331 t/s with the driver's 1 MiB of groups per call, 337-340 with all).
const GemmKernels bf16_dot_gemm_avx512 = {&group_bytes, &scratch_bytes, &pack, &gemm, SIZE_MAX};

}  // namespace llamux::cpu
