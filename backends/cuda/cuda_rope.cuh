// The rotation of one pair of a head (llama.cpp's normal mode), shared by every kernel that
// ropes (cuda_rope.cu, cuda_mmv_rope_store.cu), so that all of them agree to the last bit
// with the reference: p * theta_scale^i is formed by i successive f32 multiplications, as
// the reference (and ggml_rope_cache_init) does.
#pragma once

#include "cuda_common.cuh"

namespace llamux::cuda {

// The pair (x0, x1) at dimensions i, i + 1 (i even) of a head at position pos, rotated.
__device__ __forceinline__ void rope_pair(float x0, float x1, int32_t pos, int i, float theta_scale,
                                          float freq_scale, float& y0, float& y1) {
    float theta_extrap = static_cast<float>(pos);
#pragma unroll 1
    for (int k = 0; k < i / 2; ++k) theta_extrap = __fmul_rn(theta_extrap, theta_scale);
    const float theta = __fmul_rn(freq_scale, theta_extrap);
    const float c = cosf(theta), s = sinf(theta);
    y0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
    y1 = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

}  // namespace llamux::cuda
