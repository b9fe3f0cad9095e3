// What the attention kernels share (cuda_attention.cu, cuda_attention_decode.cu): their
// parameters, and the softmax of a query's scores held in shared memory.
#pragma once

#include <cstdint>

#include "cuda_common.cuh"

namespace llamux::cuda {

// What every attention kernel reads (node shapes as in backend_abi.h): q [head_dim, n_head,
// n_tok] f32, the k and v caches [head_dim * n_head_kv, n_ctx], dst [head_dim * n_head,
// n_tok] f32; group = n_head / n_head_kv; n_past in device memory. round_q / round_scales:
// where the one-query kernel also writes its output rounded to Q8_0 for the next matmul
// (null: it does not; cuda_program.cpp's fusions).
struct AttentionArgs {
    const char* q;
    int64_t q_nb1, q_nb2;
    const char* k;
    int64_t k_nb1;
    const char* v;
    int64_t v_nb1;
    char* dst;
    int64_t dst_nb1;
    int head_dim;
    int64_t n_head, n_tok;
    int group;
    const int32_t* n_past;
    float scale;
    int8_t* round_q = nullptr;
    float* round_scales = nullptr;
};

inline AttentionArgs attention_args(const lmx_node& node, const int32_t* n_past) {
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const lmx_tensor& dst = *node.dst;
    return AttentionArgs{static_cast<const char*>(q.data), static_cast<int64_t>(q.nb[1]), static_cast<int64_t>(q.nb[2]),
                         static_cast<const char*>(k.data), static_cast<int64_t>(k.nb[1]),
                         static_cast<const char*>(v.data), static_cast<int64_t>(v.nb[1]), static_cast<char*>(dst.data),
                         static_cast<int64_t>(dst.nb[1]), static_cast<int>(q.ne[0]), q.ne[1], q.ne[2],
                         node.iparams[0] / node.iparams[1], n_past, node.fparams[0]};
}

// p[0 .. n) holds a query's scores, local_max this thread's share of their maximum; leaves
// the probabilities in p, rounded to the cache type DT as the reference rounds them before
// they weight V, and the block synchronised (scratch, 32 floats, free again).
template <int DT, int kThreads>
__device__ __forceinline__ void softmax_in_place(float* p, int64_t n, float local_max, float* scratch) {
    const float max_s = block_max(local_max, scratch);  // its barriers publish p[]
    float local_sum = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
        const float e = expf(p[j] - max_s);
        p[j] = e;
        local_sum += e;
    }
    const float inv_sum = 1.0f / block_sum(local_sum, scratch);
    for (int64_t j = threadIdx.x; j < n; j += kThreads) p[j] = round_to<DT>(p[j] * inv_sum);
    __syncthreads();
}

}  // namespace llamux::cuda
