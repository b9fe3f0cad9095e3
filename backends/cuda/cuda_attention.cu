// Causal grouped-query attention over the KV cache; one block per (head, token).
// Query t of head h sits at position n_past + t and sees cache rows j = 0 .. n_past + t of
// kv head h / (n_head / n_head_kv):
//   s_j = (q . k_j) * scale,  p = softmax(s),  out = sum_j p_j v_j
// Numerics follow the reference (graph/src/ops_ref_attention.cpp): q is rounded to the cache
// type before the dot products and the normalised probabilities are rounded to it before
// they weight V (ggml converts both to the cache's vec_dot_type); scores, softmax and sums
// are f32 (the reference sums in double).
//
// Shared memory: q (head_dim floats), one float per thread (at most kAttentionMaxThreads)
// for partial outputs and reductions, and one score per cache row (n_ctx floats; above 48 KiB with the opt-in that
// attention_allow_shared sets).
#include "cuda_common.cuh"

namespace llamux::cuda {
namespace {

// Few queries (token generation): 32 heads make only 32 blocks, so each block gets as many
// warps as a block may have to walk the cache rows; many queries fill the GPU with blocks.
constexpr int kDecodeThreads = kAttentionMaxThreads;
constexpr int kPromptThreads = kAttentionThreads;
constexpr int64_t kDecodeMaxTokens = 4;

template <int DT, int kThreads>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const char* __restrict__ q, int64_t q_nb1, int64_t q_nb2,
                     const char* __restrict__ k, int64_t k_nb1, const char* __restrict__ v,
                     int64_t v_nb1, char* __restrict__ dst, int64_t dst_nb1, int head_dim,
                     int64_t n_head, int64_t n_tok, int group, const int32_t* __restrict__ n_past_ptr, float scale) {
    const int32_t n_past = *n_past_ptr;
    extern __shared__ float smem[];
    float* q_s = smem;                // [head_dim]
    float* part = q_s + head_dim;     // [kThreads]
    float* p = part + kThreads;       // [n_ctx]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    constexpr int kWarps = kThreads / 32;

    for (int64_t t = blockIdx.y; t < n_tok; t += gridDim.y) {
        for (int64_t h = blockIdx.x; h < n_head; h += gridDim.x) {
            const int64_t n_kv = n_past + t + 1;
            const int64_t kv_off = (h / group) * head_dim;  // element offset in a cache row
            const auto* qh = reinterpret_cast<const float*>(q + t * q_nb2 + h * q_nb1);
            __syncthreads();  // the previous (t, h) may still read q_s, part and p
            for (int d = tid; d < head_dim; d += kThreads) q_s[d] = round_to<DT>(qh[d]);
            __syncthreads();

            // Scores: a warp per cache row, lanes across head_dim (coalesced row reads).
            float local_max = -INFINITY;
            for (int64_t j = warp; j < n_kv; j += kWarps) {
                const char* kr = k + j * k_nb1;
                float dot = 0.0f;
                for (int d = lane; d < head_dim; d += 32) dot += q_s[d] * load_elem<DT>(kr, kv_off + d);
                const float s = warp_sum(dot) * scale;
                if (lane == 0) p[j] = s;
                local_max = fmaxf(local_max, s);
            }
            const float max_s = block_max(local_max, part);  // its barriers publish p[]

            float local_sum = 0.0f;
            for (int64_t j = tid; j < n_kv; j += kThreads) {
                const float e = expf(p[j] - max_s);
                p[j] = e;
                local_sum += e;
            }
            const float inv_sum = 1.0f / block_sum(local_sum, part);
            for (int64_t j = tid; j < n_kv; j += kThreads) p[j] = round_to<DT>(p[j] * inv_sum);
            __syncthreads();

            // Output: thread (d, g) sums rows j = g, g + n_groups, ... of dimension d; then the
            // groups are added up. Threads past n_groups * head_dim only write a zero.
            const int n_groups = kThreads / head_dim;
            const int d = tid % head_dim, g = tid / head_dim;
            float acc = 0.0f;
            if (g < n_groups) {
                for (int64_t j = g; j < n_kv; j += n_groups) {
                    acc += p[j] * load_elem<DT>(v + j * v_nb1, kv_off + d);
                }
            }
            part[tid] = acc;
            __syncthreads();
            if (tid < head_dim) {
                float o = 0.0f;
                for (int gg = 0; gg < n_groups; ++gg) o += part[gg * head_dim + tid];
                reinterpret_cast<float*>(dst + t * dst_nb1)[h * head_dim + tid] = o;
            }
        }
    }
}

template <int DT, int kThreads>
void launch_threads(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    const lmx_tensor& q = *node.src[0];  // [head_dim, n_head, n_tok]
    const lmx_tensor& k = *node.src[1];  // [head_dim * n_head_kv, n_ctx]
    const lmx_tensor& v = *node.src[2];
    const lmx_tensor& dst = *node.dst;   // [head_dim * n_head, n_tok]
    const int64_t head_dim = q.ne[0], n_head = q.ne[1], n_tok = q.ne[2];
    const int group = node.iparams[0] / node.iparams[1];
    const dim3 grid(grid_for(n_head, 1, 65535), grid_for(n_tok, 1, 65535));
    const size_t shared = attention_shared_bytes(head_dim, k.ne[1]);
    attention_kernel<DT, kThreads><<<grid, kThreads, shared, stream>>>(
        static_cast<const char*>(q.data), static_cast<int64_t>(q.nb[1]), static_cast<int64_t>(q.nb[2]),
        static_cast<const char*>(k.data), static_cast<int64_t>(k.nb[1]), static_cast<const char*>(v.data),
        static_cast<int64_t>(v.nb[1]), static_cast<char*>(dst.data), static_cast<int64_t>(dst.nb[1]),
        static_cast<int>(head_dim), n_head, n_tok, group, n_past, node.fparams[0]);
}

template <int DT>
void launch_typed(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    if (node.src[0]->ne[2] <= kDecodeMaxTokens) {
        launch_threads<DT, kDecodeThreads>(node, n_past, stream);
    } else {
        launch_threads<DT, kPromptThreads>(node, n_past, stream);
    }
}

template <int DT>
cudaError_t allow_shared(int bytes) {
    cudaError_t e = cudaFuncSetAttribute(attention_kernel<DT, kDecodeThreads>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
    return cudaFuncSetAttribute(attention_kernel<DT, kPromptThreads>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                bytes);
}

}  // namespace

size_t attention_shared_bytes(int64_t head_dim, int64_t n_ctx) {
    return static_cast<size_t>(head_dim + kAttentionMaxThreads + n_ctx) * sizeof(float);
}

cudaError_t attention_allow_shared(size_t bytes) {
    const int b = static_cast<int>(bytes);
    cudaError_t e = allow_shared<LMX_TYPE_F16>(b);
    if (e == cudaSuccess) e = allow_shared<LMX_TYPE_F32>(b);
    if (e == cudaSuccess) e = allow_shared<LMX_TYPE_BF16>(b);
    return e;
}

void launch_attention(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    switch (node.src[1]->dtype) {
        case LMX_TYPE_F16: launch_typed<LMX_TYPE_F16>(node, n_past, stream); return;
        case LMX_TYPE_BF16: launch_typed<LMX_TYPE_BF16>(node, n_past, stream); return;
        default: launch_typed<LMX_TYPE_F32>(node, n_past, stream); return;
    }
}

}  // namespace llamux::cuda
