// The row walk of the int8 matrix-vector kernels, shared by the plain kernel (cuda_mmv.cu)
// and the fused ones that also rope and store q/k/v (cuda_mmv_rope_store.cu), end in the
// next norm (cuda_mmv_norm.cu) or in the SwiGLU (cuda_mmv_swiglu.cu): a warp owns a row
// (gate/up: a pair of rows), four warps to a block.
#pragma once

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
// four warps per row were slower on every 7B shape (2026-11-28). Split rows
// (cuda_stored_types.hpp) take their types' values (split Q4_K and Q5_K, whose items are
// single sub-blocks, Q4_0's), not measured yet (the sweep times them).
template <int T>
struct Int8Launch {
    static constexpr int kUnroll =
        int8dot::Kind<T>::kLegacy || T == kStoredQ4_KSplit || T == kStoredQ5_KSplit ? 2 : 1;
    static constexpr int kMinBlocks = 0;
    static constexpr bool kWeightsFirst = false;
    static constexpr int kPairUnroll = kUnroll;  // rows_dot's over two rows (gate and up)
};

// The types whose weights load apart from the activations (int8dot::load_weights): Q4_0
// and Q8_0, in the file's blocks or split.
template <int T>
constexpr bool kWeightsLoadApart = int8dot::Kind<T>::kLegacy;

// The weights-first row walk (rows_dot's kWeightsFirst): a round loads the weights of its
// items before their activations, which every warp of the launch reads (L1 hits) and which
// then take no registers while the weights are in flight. Q4_0 at unroll 4 so needs the 56
// registers of unroll 2 above (ptxas, sm_90), and a 4096-wide row takes one round instead
// of two. Not measured yet: the plain kernel takes it with LLAMUX_CUDA_WEIGHTS_FIRST=1
// (g_weights_first), scripts/gpu_gemv_sweep.cu times it; Int8Launch would take these
// values if it wins, with kPairUnroll 2 (two rows' weights per item: the same bytes in
// flight, 62 registers for Q4_0).
template <int T>
struct Int8WeightsFirst {
    static_assert(kWeightsLoadApart<T>, "only Q4_0 and Q8_0 load their weights apart");
    static constexpr int kUnroll = 4;
    static constexpr int kMinBlocks = 0;
    static constexpr bool kWeightsFirst = true;
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

// The loads of item i of row wr: all of them, or with kFirstLoaded in the lane's first
// round (`first`) only the activations, the weights having come before (load_first_weights
// below). True when the weights were loaded here.
template <int T, bool kFirstLoaded>
__device__ __forceinline__ bool load_item(const uint8_t* wr, int64_t n_items, int64_t i, bool first,
                                          const int8_t* __restrict__ xq, const float* __restrict__ xd,
                                          typename int8dot::Kind<T>::Loaded& ld) {
    if constexpr (kFirstLoaded) {
        if (first) {
            int8dot::load_acts(i, xq, xd, ld);
            return false;
        }
    }
    int8dot::load(wr, n_items, i, xq, xd, ld);
    return true;
}

// The weights of the lane's first kUnroll items of row wr, for a kernel that loads them
// before pdl_wait (the early weights, LLAMUX_CUDA_EARLY_WEIGHTS=1): no kernel writes
// weights. rows_dot with kFirstLoaded then loads only their activations.
template <int T, int kUnroll>
__device__ __forceinline__ void load_first_weights(const uint8_t* wr, int64_t n_items,
                                                   typename int8dot::Kind<T>::Loaded (&ld)[kUnroll]) {
    static_assert(kWeightsLoadApart<T>, "only Q4_0 and Q8_0 load their weights apart");
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        if (threadIdx.x + 32 * u < n_items) int8dot::load_weights(wr, n_items, threadIdx.x + 32 * u, ld[u]);
    }
}

// Whether a launch of weights of type T takes its kernel's early-weight variant.
template <int T>
bool early_weights() {
    return kWeightsLoadApart<T> && g_early_weights;
}
// Whether a plain int8 launch of type T takes the weights-first walk (Int8WeightsFirst).
template <int T>
bool weights_first() {
    return kWeightsLoadApart<T> && g_weights_first;
}

// The dot products of kRows rows of one length with the activations, each summed over the
// warp (every lane gets them): the lane loads its items of every row before it uses any,
// the activations once for all rows (gate and up, cuda_mmv_swiglu.cu, walk two rows side
// by side). Each row's sum is the same whatever kRows: the same items in the same order
// per lane. With kFirstLoaded (only for kWeightsLoadApart types) ld already holds the
// weights of the lane's first kUnroll items (load_first_weights), which are then not
// loaded again; kWeightsFirst: a round's weights load before its activations
// (Int8WeightsFirst). Rows beyond the first need kWeightsLoadApart types.
template <int T, int kUnroll, int kRows, bool kFirstLoaded = false, bool kWeightsFirst = false>
__device__ __forceinline__ void rows_dot(const uint8_t* const (&w)[kRows], int64_t n_items,
                                         const int8_t* __restrict__ xq, const float* __restrict__ xd,
                                         typename int8dot::Kind<T>::Loaded (&ld)[kRows][kUnroll],
                                         float (&out)[kRows]) {
    static_assert((!kFirstLoaded && !kWeightsFirst && kRows == 1) || kWeightsLoadApart<T>,
                  "only Q4_0 and Q8_0 load their weights apart");
    float acc[kRows] = {};
    for (int64_t i0 = threadIdx.x; i0 < n_items; i0 += 32 * kUnroll) {
        const bool first = i0 == threadIdx.x;
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t i = i0 + 32 * u;
            if (i >= n_items) continue;
            bool more = true;  // the other rows' weights still to load
            if constexpr (kWeightsFirst) {
                more = !(kFirstLoaded && first);
                if (more) int8dot::load_weights(w[0], n_items, i, ld[0][u]);
            } else {
                more = load_item<T, kFirstLoaded>(w[0], n_items, i, first, xq, xd, ld[0][u]);
            }
            if constexpr (kRows > 1) {
#pragma unroll
                for (int r = 1; r < kRows; ++r) {
                    if (more) int8dot::load_weights(w[r], n_items, i, ld[r][u]);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (i0 + 32 * u >= n_items) continue;
            if constexpr (kWeightsFirst) int8dot::load_acts(i0 + 32 * u, xq, xd, ld[0][u]);
            if constexpr (kRows > 1) {
#pragma unroll
                for (int r = 1; r < kRows; ++r) {  // registers: no copy in the code
#pragma unroll
                    for (int k = 0; k < 8; ++k) ld[r][u].x[k] = ld[0][u].x[k];
                    ld[r][u].dx = ld[0][u].dx;
                }
            }
#pragma unroll
            for (int r = 0; r < kRows; ++r) acc[r] += int8dot::compute(ld[r][u]);
        }
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) out[r] = warp_sum(acc[r]);
}

// One row's rows_dot.
template <int T, int kUnroll, bool kFirstLoaded = false, bool kWeightsFirst = false>
__device__ __forceinline__ float row_dot(const uint8_t* wr, int64_t n_items, const int8_t* __restrict__ xq,
                                         const float* __restrict__ xd,
                                         typename int8dot::Kind<T>::Loaded (&ld)[kUnroll]) {
    const uint8_t* const w[1] = {wr};
    typename int8dot::Kind<T>::Loaded rows[1][kUnroll];
    if constexpr (kFirstLoaded) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) rows[0][u] = ld[u];  // registers: no copy in the code
    }
    float out[1];
    rows_dot<T, kUnroll, 1, kFirstLoaded, kWeightsFirst>(w, n_items, xq, xd, rows, out);
    return out[0];
}

}  // namespace
}  // namespace llamux::cuda
