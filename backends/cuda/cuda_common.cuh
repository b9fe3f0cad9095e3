// Device helpers shared by the CUDA backend's kernels: row addressing, warp and block
// reductions, element loads and stores of the float storage types, grid sizing.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_kernels.hpp"

// A kernel's dynamic shared memory as `type name[]` aligned to `align` bytes. The CUDA
// emulator (emulator/) has no extern __shared__ arrays: there `name` is a pointer to the
// block's buffer.
#if defined(LLAMUX_CUDA_EMULATOR)
#define LLAMUX_EXTERN_SHARED(type, name, align) \
    type* const name = reinterpret_cast<type*>(::cuemu::current().dynamic_shared)
#else
#define LLAMUX_EXTERN_SHARED(type, name, align) extern __shared__ __align__(align) type name[]
#endif

namespace llamux::cuda {

// Byte offset of flattened row r (i1 fastest).
__device__ __forceinline__ int64_t row_offset(const RowGeom& g, int64_t r) {
    const int64_t i1 = r % g.ne1;
    const int64_t i2 = (r / g.ne1) % g.ne2;
    const int64_t i3 = r / (g.ne1 * g.ne2);
    return i1 * g.nb1 + i2 * g.nb2 + i3 * g.nb3;
}

// SwiGLU of one element, silu(g) * u with silu(g) = g / (1 + e^-g): the accurate expf, as
// the reference's std::exp. Shared by the SwiGLU kernels and the gate/up product that ends
// in it (cuda_mmv_swiglu.cu), so that both write the same bits.
__device__ __forceinline__ float swiglu_value(float g, float u) { return (g / (1.0f + expf(-g))) * u; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block, returned to every thread. `scratch` holds 32 floats of shared memory;
// blockDim.x is a multiple of 32. Safe to call repeatedly with the same scratch.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // an earlier call may still be reading scratch
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const int n_warps = blockDim.x >> 5;
    return warp_sum(lane < n_warps ? scratch[lane] : 0.0f);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const int n_warps = blockDim.x >> 5;
    return warp_max(lane < n_warps ? scratch[lane] : -INFINITY);
}

// Element i of a row of a float storage type, as float; DT is an lmx_dtype value.
template <int DT>
__device__ __forceinline__ float load_elem(const void* row, int64_t i) {
    if constexpr (DT == LMX_TYPE_F16) {
        return __half2float(static_cast<const __half*>(row)[i]);
    } else if constexpr (DT == LMX_TYPE_BF16) {
        return __bfloat162float(static_cast<const __nv_bfloat16*>(row)[i]);
    } else {
        return static_cast<const float*>(row)[i];
    }
}

template <int DT>
__device__ __forceinline__ void store_elem(void* row, int64_t i, float v) {
    if constexpr (DT == LMX_TYPE_F16) {
        static_cast<__half*>(row)[i] = __float2half_rn(v);
    } else if constexpr (DT == LMX_TYPE_BF16) {
        static_cast<__nv_bfloat16*>(row)[i] = __float2bfloat16_rn(v);
    } else {
        static_cast<float*>(row)[i] = v;
    }
}

// v rounded to the storage type DT and back (identity for F32).
template <int DT>
__device__ __forceinline__ float round_to(float v) {
    if constexpr (DT == LMX_TYPE_F16) {
        return __half2float(__float2half_rn(v));
    } else if constexpr (DT == LMX_TYPE_BF16) {
        return __bfloat162float(__float2bfloat16_rn(v));
    } else {
        return v;
    }
}

// Blocks for n items of `per_block` each, capped at `cap` (kernels loop over the rest).
inline unsigned grid_for(int64_t n, int64_t per_block, int64_t cap = 65535) {
    int64_t g = (n + per_block - 1) / per_block;
    if (g < 1) g = 1;
    if (g > cap) g = cap;
    return static_cast<unsigned>(g);
}

}  // namespace llamux::cuda
