// The row walk of the int8 matrix-vector kernels, shared by the plain kernel (cuda_mmv.cu)
// and the fused ones that also rope and store q/k/v (cuda_mmv_rope_store.cu) or end in the
// next norm (cuda_mmv_norm.cu): a warp owns a row, four rows (warps) to a block.
#pragma once

#include <type_traits>

#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_kernels.hpp"
#include "cuda_launch.cuh"

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

// The loads of item i of row wr: all of them, or with kFirstLoaded in the lane's first
// round (`first`) only the activations, the weights having come before (load_first_weights
// below). True when the weights were loaded here.
template <int T, bool kFirstLoaded>
__device__ __forceinline__ bool load_item(const uint8_t* wr, int64_t i, bool first, const int8_t* __restrict__ xq,
                                          const float* __restrict__ xd, typename int8dot::Kind<T>::Loaded& ld) {
    if constexpr (kFirstLoaded) {
        if (first) {
            int8dot::load_acts(i, xq, xd, ld);
            return false;
        }
    }
    int8dot::load(wr, i, xq, xd, ld);
    return true;
}

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
            if (i0 + 32 * u < n_items) load_item<T, kFirstLoaded>(wr, i0 + 32 * u, i0 == threadIdx.x, xq, xd, ld[u]);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u < n_items) acc += int8dot::compute(ld[u]);
        }
    }
    return warp_sum(acc);
}

// The weights of the lane's first kUnroll items of row wr, for a kernel that loads them
// before pdl_wait (the early weights, LLAMUX_CUDA_EARLY_WEIGHTS=1): no kernel writes
// weights. row_dot / row_dot_pair with kFirstLoaded then load only their activations.
template <int T, int kUnroll>
__device__ __forceinline__ void load_first_weights(const uint8_t* wr, int64_t n_items,
                                                   typename int8dot::Kind<T>::Loaded (&ld)[kUnroll]) {
    static_assert(kWeightsLoadApart<T>, "only Q4_0 and Q8_0 load their weights apart");
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        if (threadIdx.x + 32 * u < n_items) int8dot::load_weights(wr, threadIdx.x + 32 * u, ld[u]);
    }
}

// Whether a launch of weights of type T takes its kernel's early-weight variant.
template <int T>
bool early_weights() {
    return kWeightsLoadApart<T> && g_early_weights;
}

// row_dot of two rows of one length at once (gate and up, cuda_mmv_swiglu.cu): the lane
// loads an item of each row before it uses either, and the activations once for both. Each
// row's sum is the one row_dot would return: the same items in the same order per lane.
// kFirstLoaded: la and lb hold the first items' weights (load_first_weights).
template <int T, int kUnroll, bool kFirstLoaded = false>
__device__ __forceinline__ void row_dot_pair(const uint8_t* wa, const uint8_t* wb, int64_t n_items,
                                             const int8_t* __restrict__ xq, const float* __restrict__ xd,
                                             typename int8dot::Kind<T>::Loaded (&la)[kUnroll],
                                             typename int8dot::Kind<T>::Loaded (&lb)[kUnroll], float* a, float* b) {
    static_assert(kWeightsLoadApart<T>, "only Q4_0 and Q8_0 load their weights apart");
    float acc_a = 0.0f, acc_b = 0.0f;
    for (int64_t i0 = threadIdx.x; i0 < n_items; i0 += 32 * kUnroll) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u >= n_items) continue;
            if (load_item<T, kFirstLoaded>(wa, i0 + 32 * u, i0 == threadIdx.x, xq, xd, la[u])) {
                int8dot::load_weights(wb, i0 + 32 * u, lb[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u >= n_items) continue;
#pragma unroll
            for (int k = 0; k < 8; ++k) lb[u].x[k] = la[u].x[k];  // registers: no copy in the code
            lb[u].dx = la[u].dx;
            acc_a += int8dot::compute(la[u]);
            acc_b += int8dot::compute(lb[u]);
        }
    }
    *a = warp_sum(acc_a);
    *b = warp_sum(acc_b);
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
