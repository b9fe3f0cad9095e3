// Rotary embedding, llama.cpp's normal mode (adjacent pairs). For token t at position
// p = positions[t] and pair i < n_rot / 2 of every head:
//   theta = freq_scale * (p * theta_scale^i),  theta_scale = freq_base^(-2 / n_rot)
//   (x[2i], x[2i+1]) -> (x0 cos - x1 sin, x0 sin + x1 cos); dims >= n_rot are copied.
// p * theta_scale^i is formed by i successive f32 multiplications, as the reference (and
// ggml_rope_cache_init) does, so the angles agree to the last bit.
#include <cmath>

#include "cuda_common.cuh"
#include "cuda_launch.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 64;

__global__ void __launch_bounds__(kThreads)
    rope_kernel(const char* __restrict__ x, int64_t x_nb1, int64_t x_nb2,
                const int32_t* __restrict__ positions, char* __restrict__ y, int64_t y_nb1,
                int64_t y_nb2, int64_t head_dim, int64_t n_head, int64_t n_tok, int n_rot,
                float theta_scale, float freq_scale) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    for (int64_t t = blockIdx.y; t < n_tok; t += gridDim.y) {
        for (int64_t h = blockIdx.x; h < n_head; h += gridDim.x) {
            const auto* src = reinterpret_cast<const float*>(x + t * x_nb2 + h * x_nb1);
            auto* out = reinterpret_cast<float*>(y + t * y_nb2 + h * y_nb1);
            for (int i = 2 * static_cast<int>(threadIdx.x); i < n_rot; i += 2 * kThreads) {
                float theta_extrap = static_cast<float>(positions[t]);
#pragma unroll 1
                for (int k = 0; k < i / 2; ++k) theta_extrap = __fmul_rn(theta_extrap, theta_scale);
                const float theta = __fmul_rn(freq_scale, theta_extrap);
                const float c = cosf(theta), s = sinf(theta);
                const float x0 = src[i], x1 = src[i + 1];
                out[i] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
                out[i + 1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
            }
            for (int64_t i = n_rot + threadIdx.x; i < head_dim; i += kThreads) out[i] = src[i];
        }
    }
}

}  // namespace

void launch_rope(const lmx_node& node, cudaStream_t stream) {
    const lmx_tensor& x = *node.src[0];  // [head_dim, n_head, n_tok]
    const lmx_tensor& y = *node.dst;
    const int n_rot = node.iparams[0];
    const float theta_scale = std::pow(node.fparams[0], -2.0f / static_cast<float>(n_rot));
    const dim3 grid(grid_for(x.ne[1], 1, 65535), grid_for(x.ne[2], 1, 65535));
    launch(rope_kernel, grid, kThreads, 0, stream, 
        static_cast<const char*>(x.data), static_cast<int64_t>(x.nb[1]), static_cast<int64_t>(x.nb[2]),
        static_cast<const int32_t*>(node.src[1]->data), static_cast<char*>(y.data),
        static_cast<int64_t>(y.nb[1]), static_cast<int64_t>(y.nb[2]), x.ne[0], x.ne[1], x.ne[2], n_rot,
        theta_scale, node.fparams[1]);
}

}  // namespace llamux::cuda
