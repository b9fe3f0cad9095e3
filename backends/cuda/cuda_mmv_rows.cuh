// The row walk of the int8 matrix-vector kernels, shared by the plain kernel (cuda_mmv.cu)
// and the fused ones that also rope and store q/k/v (cuda_mmv_rope_store.cu) or end in the
// next norm (cuda_mmv_norm.cu): a warp owns a row, four rows (warps) to a block.
#pragma once

#include <type_traits>

#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_kernels.hpp"

namespace llamux::cuda {
namespace {

constexpr int kRowsPerBlock = 4;

// Lanes take consecutive items, so a warp reads a contiguous run of the row; kUnroll items
// per lane are loaded before any is used. kMinBlocks (CTAs per SM, 0: no bound) caps the
// registers so that more rows are in flight at once. scripts/gpu_gemv_sweep.cu times the
// variants. On an H200 (2026-11-26), for Q4_0, unroll 2 without a bound was best or within
// 3% of best on all three 7B shapes: 4.1 us for 4096x4096 (2.3 TB/s), 8.9 us for 4096x11008
// and 11008x4096 (2.9 TB/s); unroll 4 took 5.3 / 9.5 / 10.7 us. Q6_K ran unrolled once in
// that measurement; Q4_K/Q5_K items are twice as large, so they start at one too. Two or
// four warps per row were slower on every 7B shape (2026-11-28).
template <int T>
struct Int8Launch {
    static constexpr int kUnroll = T == LMX_TYPE_Q4_0 || T == LMX_TYPE_Q8_0 ? 2 : 1;
    static constexpr int kMinBlocks = 0;
};

// This warp's row: row r of the group's matrix i, its weights and its output (unrolled:
// no run-time index into g); *which = i and *index = r when given. False past the last row.
__device__ __forceinline__ bool group_row(const MmvGroup& g, const uint8_t** wr, float** y, int* which = nullptr,
                                          int64_t* index = nullptr) {
    int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
#pragma unroll
    for (int i = 0; i < kMaxMmvGroup; ++i) {
        if (*wr == nullptr && i < g.n) {
            if (r < g.rows[i]) {
                *wr = static_cast<const uint8_t*>(g.w[i]) + r * g.row_bytes[i];
                *y = g.y[i] + r;
                if (which) *which = i;
                if (index) *index = r;
            } else {
                r -= g.rows[i];
            }
        }
    }
    return *wr != nullptr;
}

// The types whose weights load apart from the activations (int8dot::load_weights).
template <int T>
constexpr bool kWeightsLoadApart = T == LMX_TYPE_Q4_0 || T == LMX_TYPE_Q8_0;

// The row's dot with the activations, summed over the warp (every lane gets it). With
// kFirstLoaded (only for kWeightsLoadApart types), ld already holds the weights of the
// lane's first kUnroll items, which are then not loaded again.
template <int T, int kUnroll, bool kFirstLoaded = false>
__device__ __forceinline__ float row_dot(const uint8_t* wr, int64_t n_items, const int8_t* __restrict__ xq,
                                         const float* __restrict__ xd,
                                         typename int8dot::Kind<T>::Loaded (&ld)[kUnroll]) {
    static_assert(!kFirstLoaded || kWeightsLoadApart<T>, "only Q4_0 and Q8_0 load their weights apart");
    float acc = 0.0f;
    for (int64_t i0 = threadIdx.x; i0 < n_items; i0 += 32 * kUnroll) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u >= n_items) continue;
            if constexpr (kFirstLoaded) {
                if (i0 == threadIdx.x) {
                    int8dot::load_acts(i0 + 32 * u, xq, xd, ld[u]);
                    continue;
                }
            }
            int8dot::load(wr, i0 + 32 * u, xq, xd, ld[u]);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u < n_items) acc += int8dot::compute(ld[u]);
        }
    }
    return warp_sum(acc);
}

// Calls launch(std::integral_constant<int, T>{}) with the stored type T of the weights, one
// of the five the int8 kernels read (mmv_q8_supports); other types launch nothing.
template <class Launch>
void dispatch_int8_type(int32_t stored_dtype, Launch&& launch) {
    switch (stored_dtype) {
        case LMX_TYPE_Q4_0: return launch(std::integral_constant<int, LMX_TYPE_Q4_0>{});
        case LMX_TYPE_Q8_0: return launch(std::integral_constant<int, LMX_TYPE_Q8_0>{});
        case LMX_TYPE_Q4_K: return launch(std::integral_constant<int, LMX_TYPE_Q4_K>{});
        case LMX_TYPE_Q5_K: return launch(std::integral_constant<int, LMX_TYPE_Q5_K>{});
        case LMX_TYPE_Q6_K: return launch(std::integral_constant<int, LMX_TYPE_Q6_K>{});
        default: return;  // refused by plan_matmul (mmv_q8_supports)
    }
}

}  // namespace
}  // namespace llamux::cuda
