// What the attention kernels share (cuda_attention.cu, cuda_attention_decode.cu,
// cuda_attention_split.cu): their parameters, f16 cache pieces, and the softmax of a query's
// scores held in shared memory.
#pragma once

#include <cstdint>

#include "cuda_common.cuh"
#include "cuda_round.cuh"

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

// The f16-cache kernels' largest head_dim (cuda_attention_decode.cu: 256 would spill
// registers at 1024 threads).
constexpr int kMaxHeadDim = 128;

// Eight halves of an f16 cache row as loaded (16 bytes, kept packed until used: registers
// are scarce at 1024 threads), and half e of them as a float.
__device__ __forceinline__ uint4 load8(const char* p) { return *reinterpret_cast<const uint4*>(p); }
__device__ __forceinline__ float half_at(const uint4& raw, int e) {
    const uint32_t w = e < 2 ? raw.x : e < 4 ? raw.y : e < 6 ? raw.z : raw.w;
    return __half2float(__ushort_as_half(static_cast<unsigned short>(e % 2 == 0 ? w & 0xFFFFu : w >> 16)));
}

// q . k for a cache row shared by kLanes lanes (aligned in the warp): this lane holds the
// row's 16-byte pieces sl, sl + kLanes, ... (kPieces of them; those at C = head_dim / 8 and
// past are not used), q_s the query as floats. Every lane of the warp calls it and gets the
// row's whole sum.
template <int kLanes, int kPieces>
__device__ __forceinline__ float shared_row_dot(const float* q_s, const uint4 (&kr)[kPieces], int sl, int C) {
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
        const int pc = sl + kLanes * i;
        if (pc < C) {
#pragma unroll
            for (int e = 0; e < 8; ++e) dot += q_s[8 * pc + e] * half_at(kr[i], e);
        }
    }
#pragma unroll
    for (int o = kLanes / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    return dot;
}

// p v of a block whose threads each hold eight sums of one 16-byte piece c of the head (C =
// head_dim / 8 pieces, piece c = threadIdx.x % C) over some of the rows: folds the lanes of
// a warp that hold the same piece (l and l + C, C <= 16), then the warps through `part`
// (kWarps * head_dim floats); returns output element threadIdx.x (0 past head_dim).
// Synchronises the block.
template <int kWarps>
__device__ __forceinline__ float fold_piece_sums(float (&acc)[8], int C, int head_dim, float* part) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int o = C; o < 32; o <<= 1) {
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
    }
    if (lane < C) {
#pragma unroll
        for (int e = 0; e < 8; ++e) part[warp * head_dim + 8 * lane + e] = acc[e];
    }
    __syncthreads();
    float out = 0.0f;
    if (static_cast<int>(threadIdx.x) < head_dim) {
        for (int w = 0; w < kWarps; ++w) out += part[w * head_dim + threadIdx.x];
    }
    return out;
}

// Writes output element d of (query t, head h), and its Q8_0 rounding where a.round_q asks
// for one (head_dim % 32 == 0: the threads d < head_dim are whole warps, a block of 32 each).
__device__ __forceinline__ void store_output(const AttentionArgs& a, int64_t t, int64_t h, int d, float out) {
    reinterpret_cast<float*>(a.dst + t * a.dst_nb1)[h * a.head_dim + d] = out;
    if (a.round_q) {
        const float block[1] = {out};
        const int64_t e = (t * a.n_head + h) * a.head_dim + d;
        round_block_warp<32, ActOut::Q8>(block, d & 31, e, e / 32, a.round_q, a.round_scales);
    }
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
