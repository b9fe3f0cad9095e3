// Rotary embedding, llama.cpp's normal mode (adjacent pairs). For token t at position
// p = positions[t] and pair i < n_rot / 2 of every head:
//   theta = freq_scale * (p * theta_scale^i),  theta_scale = freq_base^(-2 / n_rot)
//   (x[2i], x[2i+1]) -> (x0 cos - x1 sin, x0 sin + x1 cos); dims >= n_rot are copied.
// p * theta_scale^i is formed by i successive f32 multiplications, as the reference (and
// ggml_rope_cache_init) does, so the angles agree to the last bit.
#include <cmath>

#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_rope.cuh"

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
                rope_pair(src[i], src[i + 1], positions[t], i, theta_scale, freq_scale, out[i], out[i + 1]);
            }
            for (int64_t i = n_rot + threadIdx.x; i < head_dim; i += kThreads) out[i] = src[i];
        }
    }
}

// A rope node's input and output heads: head h of token t at base + t * nb2 + h * nb1.
struct RopeHeads {
    const char* src = nullptr;
    int64_t src_nb1 = 0, src_nb2 = 0;
    char* dst = nullptr;
    int64_t dst_nb1 = 0, dst_nb2 = 0;
    int n_heads = 0;
};

RopeHeads rope_heads(const lmx_node& rope) {
    const lmx_tensor& x = *rope.src[0];
    const lmx_tensor& y = *rope.dst;
    return RopeHeads{static_cast<const char*>(x.data), static_cast<int64_t>(x.nb[1]), static_cast<int64_t>(x.nb[2]),
                     static_cast<char*>(y.data),       static_cast<int64_t>(y.nb[1]), static_cast<int64_t>(y.nb[2]),
                     static_cast<int>(x.ne[1])};
}

// rope(k) with the KV stores of k and v, and rope(q) when q.n_heads > 0, in one launch.
// Block x of token t: x < n_q (q heads) ropes q head x; the next n_kv blocks rope k head h
// and write it to the roped k and, converted, to k-cache row n_past + t at h * head_dim; the
// last n_kv blocks copy v head h into the v-cache row. Each value is computed as
// rope_kernel and kv_store_kernel compute it, so the results are the same bit for bit.
struct RopeStoreParams {
    RopeHeads q, k;  // q.n_heads == 0: no rope(q)
    const char* v;
    int64_t v_nb1;
    char* k_cache;
    char* v_cache;
    int64_t k_cache_nb1, v_cache_nb1;
    const int32_t* positions;
    const int32_t* n_past;
    int head_dim, n_rot;
    float theta_scale, freq_scale;
    int64_t n_tok;
};

template <int DT>
__global__ void __launch_bounds__(kThreads) rope_store_kernel(const RopeStoreParams p) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int32_t n_past = *p.n_past;
    const int D = p.head_dim;
    const int64_t b = blockIdx.x;
    const int n_q = p.q.n_heads, n_kv = p.k.n_heads;
    for (int64_t t = blockIdx.y; t < p.n_tok; t += gridDim.y) {
        const int32_t pos = p.positions[t];
        if (b < n_q) {
            const auto* src = reinterpret_cast<const float*>(p.q.src + t * p.q.src_nb2 + b * p.q.src_nb1);
            auto* out = reinterpret_cast<float*>(p.q.dst + t * p.q.dst_nb2 + b * p.q.dst_nb1);
            for (int i = 2 * static_cast<int>(threadIdx.x); i < p.n_rot; i += 2 * kThreads) {
                rope_pair(src[i], src[i + 1], pos, i, p.theta_scale, p.freq_scale, out[i], out[i + 1]);
            }
            for (int i = p.n_rot + static_cast<int>(threadIdx.x); i < D; i += kThreads) out[i] = src[i];
        } else if (b < n_q + n_kv) {
            const int64_t h = b - n_q;
            const auto* src = reinterpret_cast<const float*>(p.k.src + t * p.k.src_nb2 + h * p.k.src_nb1);
            auto* out = reinterpret_cast<float*>(p.k.dst + t * p.k.dst_nb2 + h * p.k.dst_nb1);
            char* cache_row = p.k_cache + (n_past + t) * p.k_cache_nb1;
            for (int i = 2 * static_cast<int>(threadIdx.x); i < p.n_rot; i += 2 * kThreads) {
                float y0, y1;
                rope_pair(src[i], src[i + 1], pos, i, p.theta_scale, p.freq_scale, y0, y1);
                out[i] = y0;
                out[i + 1] = y1;
                store_elem<DT>(cache_row, h * D + i, y0);
                store_elem<DT>(cache_row, h * D + i + 1, y1);
            }
            for (int i = p.n_rot + static_cast<int>(threadIdx.x); i < D; i += kThreads) {
                out[i] = src[i];
                store_elem<DT>(cache_row, h * D + i, src[i]);
            }
        } else {
            const int64_t h = b - n_q - n_kv;
            const auto* src = reinterpret_cast<const float*>(p.v + t * p.v_nb1) + h * D;
            char* cache_row = p.v_cache + (n_past + t) * p.v_cache_nb1;
            for (int i = static_cast<int>(threadIdx.x); i < D; i += kThreads) store_elem<DT>(cache_row, h * D + i, src[i]);
        }
    }
}

}  // namespace

float theta_scale_of(const lmx_node& rope) {
    return std::pow(rope.fparams[0], -2.0f / static_cast<float>(rope.iparams[0]));
}

void launch_rope(const lmx_node& node, cudaStream_t stream) {
    const lmx_tensor& x = *node.src[0];  // [head_dim, n_head, n_tok]
    const lmx_tensor& y = *node.dst;
    const int n_rot = node.iparams[0];
    const float theta_scale = theta_scale_of(node);
    const dim3 grid(grid_for(x.ne[1], 1, 65535), grid_for(x.ne[2], 1, 65535));
    launch(rope_kernel, grid, kThreads, 0, stream, 
        static_cast<const char*>(x.data), static_cast<int64_t>(x.nb[1]), static_cast<int64_t>(x.nb[2]),
        static_cast<const int32_t*>(node.src[1]->data), static_cast<char*>(y.data),
        static_cast<int64_t>(y.nb[1]), static_cast<int64_t>(y.nb[2]), x.ne[0], x.ne[1], x.ne[2], n_rot,
        theta_scale, node.fparams[1]);
}

void launch_rope_store(const lmx_node* rope_q, const lmx_node& rope_k, const lmx_node& store_k,
                       const lmx_node& store_v, const int32_t* n_past, cudaStream_t stream) {
    const lmx_tensor& k = *rope_k.src[0];  // [head_dim, n_kv_heads, n_tok]
    const lmx_tensor& v = *store_v.src[0];  // [n_kv_heads * head_dim, n_tok]
    RopeStoreParams p{};
    if (rope_q) p.q = rope_heads(*rope_q);
    p.k = rope_heads(rope_k);
    p.v = static_cast<const char*>(v.data);
    p.v_nb1 = static_cast<int64_t>(v.nb[1]);
    p.k_cache = static_cast<char*>(store_k.dst->data);
    p.v_cache = static_cast<char*>(store_v.dst->data);
    p.k_cache_nb1 = static_cast<int64_t>(store_k.dst->nb[1]);
    p.v_cache_nb1 = static_cast<int64_t>(store_v.dst->nb[1]);
    p.positions = static_cast<const int32_t*>(rope_k.src[1]->data);
    p.n_past = n_past;
    p.head_dim = static_cast<int>(k.ne[0]);
    p.n_rot = rope_k.iparams[0];
    p.theta_scale = theta_scale_of(rope_k);
    p.freq_scale = rope_k.fparams[1];
    p.n_tok = k.ne[2];
    const dim3 grid(static_cast<unsigned>(p.q.n_heads + 2 * p.k.n_heads), grid_for(p.n_tok, 1, 65535));
    switch (store_k.dst->dtype) {
        case LMX_TYPE_F16: launch(rope_store_kernel<LMX_TYPE_F16>, grid, kThreads, 0, stream, p); return;
        case LMX_TYPE_BF16: launch(rope_store_kernel<LMX_TYPE_BF16>, grid, kThreads, 0, stream, p); return;
        default: launch(rope_store_kernel<LMX_TYPE_F32>, grid, kThreads, 0, stream, p); return;
    }
}

}  // namespace llamux::cuda
