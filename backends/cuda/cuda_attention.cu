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
#include <mma.h>

#include <algorithm>

#include "cuda_attention_common.cuh"
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

// Few queries (token generation): 32 heads make only 32 blocks, so each block gets as many
// warps as a block may have to walk the cache rows (H200, 7B shape, 2026-11-28: tg128 475
// t/s with 1024 threads, 418 with 256); many queries fill the GPU with blocks.
constexpr int kDecodeThreads = kAttentionMaxThreads;
constexpr int kPromptThreads = kAttentionThreads;
constexpr int64_t kDecodeMaxTokens = kAttentionDecodeMaxTokens;
constexpr int64_t kTiledMaxDim = 128;

// The kernels' parameters under their usual names.
#define LLAMUX_ATTENTION_UNPACK(a)                                                              \
    const char* __restrict__ q = (a).q;                                                         \
    const char* __restrict__ k = (a).k;                                                         \
    const char* __restrict__ v = (a).v;                                                         \
    char* __restrict__ dst = (a).dst;                                                           \
    const int64_t q_nb1 = (a).q_nb1, q_nb2 = (a).q_nb2, k_nb1 = (a).k_nb1, v_nb1 = (a).v_nb1;  \
    const int64_t dst_nb1 = (a).dst_nb1, n_head = (a).n_head, n_tok = (a).n_tok;               \
    const int group = (a).group;                                                                \
    const float scale = (a).scale;                                                              \
    (void)n_head


template <int DT, int kThreads>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const AttentionArgs a) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    LLAMUX_ATTENTION_UNPACK(a);
    const int head_dim = a.head_dim;
    const int32_t n_past = *a.n_past;
    LLAMUX_EXTERN_SHARED(float, smem, 4);
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

            // Scores: groups of 8 lanes per cache row (4 rows per warp at a time), the lanes
            // of a group across head_dim.
            float local_max = -INFINITY;
            const int sub = lane >> 3, sl = lane & 7;
            for (int64_t j0 = 4 * warp; j0 < n_kv; j0 += 4 * kWarps) {
                const int64_t j = j0 + sub;
                float dot = 0.0f;
                if (j < n_kv) {
                    const char* kr = k + j * k_nb1;
                    for (int d = sl; d < head_dim; d += 8) dot += q_s[d] * load_elem<DT>(kr, kv_off + d);
                }
#pragma unroll
                for (int o = 4; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
                const float s = dot * scale;
                if (j < n_kv) {
                    if (sl == 0) p[j] = s;
                    local_max = fmaxf(local_max, s);
                }
            }
            softmax_in_place<DT, kThreads>(p, n_kv, local_max, part);

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
                if (a.round_q) {  // head_dim % 32 == 0: whole warps, one block of 32 each
                    const float block[1] = {o};
                    const int64_t e = (t * n_head + h) * head_dim + tid;
                    round_block_warp<32, ActOut::Q8>(block, lane, e, e / 32, a.round_q, a.round_scales);
                }
            }
        }
    }
}

// Prompts: a block takes kTileQ consecutive queries of one head and walks the cache in
// chunks of kChunk rows held in shared memory, so each cache row is read once per tile
// instead of once per query. Two passes keep the reference's numerics: the first finds each
// query's score maximum m and exp-sum l (running, rescaled per chunk), the second forms
// p = round(exp(s - m) / l) exactly as the one-query kernel does and sums p v.
// Thread layout (256 threads): scores, 4 (query, row) pairs each; p v, query tid / 16 and
// dimensions tid % 16 + 16 r (head_dim <= kTiledMaxDim). K rows are padded by one float
// in shared memory so that a warp reading 32 rows hits 32 banks.
constexpr int kTileQ = 16, kChunk = 64, kTiledThreads = 256;

// Pass 1 of both tiled kernels: warp w folds the chunk's scores of queries 2w and 2w + 1
// (rows of `ld` floats in s) into their running maximum m_s and exp-sum l_s.
__device__ __forceinline__ void fold_chunk_stats(const float* s, int ld, float* m_s, float* l_s, int warp,
                                                 int lane) {
#pragma unroll
    for (int ii = 0; ii < 2; ++ii) {
        const int i = 2 * warp + ii;
        const float a = s[i * ld + lane], b = s[i * ld + lane + 32];
        const float m_old = m_s[i];
        const float m_new = fmaxf(m_old, warp_max(fmaxf(a, b)));
        if (m_new == -INFINITY) continue;  // nothing seen yet (same on every lane)
        const float sum = warp_sum(expf(a - m_new) + expf(b - m_new));
        if (lane == 0) {
            l_s[i] = l_s[i] * expf(m_old - m_new) + sum;
            m_s[i] = m_new;
        }
    }
}

template <int DT>
__global__ void __launch_bounds__(kTiledThreads)
    attention_tiled_kernel(const AttentionArgs a) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    LLAMUX_ATTENTION_UNPACK(a);
    const int D = a.head_dim;
    LLAMUX_EXTERN_SHARED(float, smem, 4);
    float* q_s = smem;                  // [kTileQ][D]
    float* k_s = q_s + kTileQ * D;      // [kChunk][D + 1]
    float* v_s = k_s + kChunk * (D + 1);  // [kChunk][D]
    float* s_s = v_s + kChunk * D;      // [kTileQ][kChunk]
    float* m_s = s_s + kTileQ * kChunk;  // [kTileQ]
    float* l_s = m_s + kTileQ;          // [kTileQ]
    const int64_t n_past = *a.n_past;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t h = blockIdx.x;
    const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTileQ;
    const int64_t kv_off = (h / group) * D;

    for (int e = tid; e < kTileQ * D; e += kTiledThreads) {
        const int64_t t = t0 + e / D;
        q_s[e] = t < n_tok ? round_to<DT>(reinterpret_cast<const float*>(q + t * q_nb2 + h * q_nb1)[e % D]) : 0.0f;
    }
    if (tid < kTileQ) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.0f;
    }
    const int64_t n_keys = n_past + min(t0 + kTileQ, n_tok);  // rows the tile's last query sees
    const int qi = tid / 16;                                   // p v: this thread's query
    float acc[8] = {};
    __syncthreads();

    for (int pass = 0; pass < 2; ++pass) {
        for (int64_t c0 = 0; c0 < n_keys; c0 += kChunk) {
            const int nc = static_cast<int>(min(static_cast<int64_t>(kChunk), n_keys - c0));
            for (int e = tid; e < kChunk * D; e += kTiledThreads) {
                const int j = e / D, d = e % D;
                k_s[j * (D + 1) + d] = j < nc ? load_elem<DT>(k + (c0 + j) * k_nb1, kv_off + d) : 0.0f;
                if (pass == 1) v_s[e] = j < nc ? load_elem<DT>(v + (c0 + j) * v_nb1, kv_off + d) : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int r = 0; r < kTileQ * kChunk / kTiledThreads; ++r) {
                const int e = tid + kTiledThreads * r;
                const int i = e / kChunk, j = e % kChunk;
                const int64_t t = t0 + i;
                const bool seen = j < nc && t < n_tok && c0 + j <= n_past + t;
                float dot = 0.0f;
                const float* qr = q_s + i * D;
                const float* kr = k_s + j * (D + 1);
#pragma unroll 8
                for (int d = 0; d < D; ++d) dot += qr[d] * kr[d];
                s_s[e] = seen ? dot * scale : -INFINITY;
            }
            __syncthreads();
            if (pass == 0) {
                fold_chunk_stats(s_s, kChunk, m_s, l_s, warp, lane);
            } else {
                for (int e = tid; e < kTileQ * kChunk; e += kTiledThreads) {
                    const int i = e / kChunk;
                    const float sc = s_s[e];
                    s_s[e] = sc == -INFINITY ? 0.0f : round_to<DT>(expf(sc - m_s[i]) * (1.0f / l_s[i]));
                }
                __syncthreads();
                const float* pr = s_s + qi * kChunk;
#pragma unroll
                for (int r = 0; r < 8; ++r) {
                    const int d = (tid & 15) + 16 * r;
                    if (d < D) {
                        float sum = acc[r];
                        for (int j = 0; j < nc; ++j) sum += pr[j] * v_s[j * D + d];
                        acc[r] = sum;
                    }
                }
            }
            __syncthreads();  // the next chunk overwrites k_s, v_s and s_s
        }
    }
    const int64_t t = t0 + qi;
    if (t < n_tok) {
        auto* out = reinterpret_cast<float*>(dst + t * dst_nb1) + h * D;
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            const int d = (tid & 15) + 16 * r;
            if (d < D) out[d] = acc[r];
        }
    }
}

size_t tiled_shared_bytes(int64_t D) {
    return static_cast<size_t>(kTileQ * D + kChunk * (D + 1) + kChunk * D + kTileQ * kChunk + 2 * kTileQ) *
           sizeof(float);
}

template <int DT>
void launch_tiled(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    const AttentionArgs a = attention_args(node, n_past);
    const dim3 grid(grid_for(a.n_head, 1, 65535), grid_for(a.n_tok, kTileQ, 65535));
    launch(attention_tiled_kernel<DT>, grid, kTiledThreads, tiled_shared_bytes(a.head_dim), stream, a);
}

// Prompts on an f16 cache, head_dim a multiple of 16 (at most kTiledMaxDim): the tiled
// scheme above with the two products on the tensor cores (WMMA 16x16x16, f16 inputs, f32
// sums). The inputs are the values the reference multiplies: q rounded to f16, the cache's
// f16 rows, p rounded to f16 after normalisation; products of f16 are exact in f32, so only
// the order of the sums differs. Warps 0-3 each score 16 of the chunk's 64 rows; warp w
// accumulates output dimensions 16w .. 16w + 15 in registers across chunks.
constexpr int kLdS = kChunk + 4, kLdP = kChunk + 8;

__global__ void __launch_bounds__(kTiledThreads)
    attention_mma_kernel(const AttentionArgs a) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    LLAMUX_ATTENTION_UNPACK(a);
    const int D = a.head_dim;
    using namespace nvcuda;
    LLAMUX_EXTERN_SHARED(unsigned char, smem_raw, 32);
    const int ldh = D + 8;  // halves per row: keeps rows 32-byte aligned and spreads the banks
    auto* q_h = reinterpret_cast<__half*>(smem_raw);              // [kTileQ][ldh]
    __half* k_h = q_h + kTileQ * ldh;                             // [kChunk][ldh]
    __half* v_h = k_h + kChunk * ldh;                             // [kChunk][ldh]
    auto* s_s = reinterpret_cast<float*>(v_h + kChunk * ldh);     // [kTileQ][kLdS]
    auto* p_h = reinterpret_cast<__half*>(s_s + kTileQ * kLdS);   // [kTileQ][kLdP]
    auto* o_s = reinterpret_cast<float*>(p_h + kTileQ * kLdP);    // [kTileQ][D + 4]
    float* m_s = o_s + kTileQ * (D + 4);                          // [kTileQ]
    float* l_s = m_s + kTileQ;                                    // [kTileQ]
    const int64_t n_past = *a.n_past;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t h = blockIdx.x;
    const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTileQ;
    const int64_t kv_off = (h / group) * D;
    const bool pv_warp = warp * 16 < D;

    for (int e = tid; e < kTileQ * D; e += kTiledThreads) {
        const int i = e / D, d = e % D;
        const int64_t t = t0 + i;
        q_h[i * ldh + d] = __float2half_rn(t < n_tok ? reinterpret_cast<const float*>(q + t * q_nb2 + h * q_nb1)[d] : 0.0f);
    }
    if (tid < kTileQ) {
        m_s[tid] = -INFINITY;
        l_s[tid] = 0.0f;
    }
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_frag;
    wmma::fill_fragment(o_frag, 0.0f);
    const int64_t n_keys = n_past + min(t0 + kTileQ, n_tok);
    const int vecs = D / 8;  // 16-byte vectors per row
    __syncthreads();

    for (int pass = 0; pass < 2; ++pass) {
        for (int64_t c0 = 0; c0 < n_keys; c0 += kChunk) {
            const int nc = static_cast<int>(min(static_cast<int64_t>(kChunk), n_keys - c0));
            for (int e = tid; e < kChunk * vecs; e += kTiledThreads) {
                const int j = e / vecs, c = e % vecs;
                const uint4 zero = make_uint4(0, 0, 0, 0);
                const size_t col = static_cast<size_t>(kv_off + 8 * c) * sizeof(__half);
                *reinterpret_cast<uint4*>(k_h + j * ldh + 8 * c) =
                    j < nc ? *reinterpret_cast<const uint4*>(k + (c0 + j) * k_nb1 + col) : zero;
                if (pass == 1) {
                    *reinterpret_cast<uint4*>(v_h + j * ldh + 8 * c) =
                        j < nc ? *reinterpret_cast<const uint4*>(v + (c0 + j) * v_nb1 + col) : zero;
                }
            }
            __syncthreads();
            if (warp < kChunk / 16) {
                wmma::fragment<wmma::accumulator, 16, 16, 16, float> s_frag;
                wmma::fill_fragment(s_frag, 0.0f);
                for (int d0 = 0; d0 < D; d0 += 16) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> q_frag;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> k_frag;
                    wmma::load_matrix_sync(q_frag, q_h + d0, ldh);
                    wmma::load_matrix_sync(k_frag, k_h + warp * 16 * ldh + d0, ldh);
                    wmma::mma_sync(s_frag, q_frag, k_frag, s_frag);
                }
                wmma::store_matrix_sync(s_s + warp * 16, s_frag, kLdS, wmma::mem_row_major);
            }
            __syncthreads();
            for (int e = tid; e < kTileQ * kChunk; e += kTiledThreads) {
                const int i = e / kChunk, j = e % kChunk;
                const int64_t t = t0 + i;
                const bool seen = j < nc && t < n_tok && c0 + j <= n_past + t;
                float& sc = s_s[i * kLdS + j];
                sc = seen ? sc * scale : -INFINITY;
            }
            __syncthreads();
            if (pass == 0) {
                fold_chunk_stats(s_s, kLdS, m_s, l_s, warp, lane);
            } else {
                for (int e = tid; e < kTileQ * kChunk; e += kTiledThreads) {
                    const int i = e / kChunk, j = e % kChunk;
                    const float sc = s_s[i * kLdS + j];
                    p_h[i * kLdP + j] = __float2half_rn(sc == -INFINITY ? 0.0f : expf(sc - m_s[i]) * (1.0f / l_s[i]));
                }
                __syncthreads();
                if (pv_warp) {
                    for (int k0 = 0; k0 < kChunk; k0 += 16) {
                        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> p_frag;
                        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> v_frag;
                        wmma::load_matrix_sync(p_frag, p_h + k0, kLdP);
                        wmma::load_matrix_sync(v_frag, v_h + k0 * ldh + warp * 16, ldh);
                        wmma::mma_sync(o_frag, p_frag, v_frag, o_frag);
                    }
                }
            }
            __syncthreads();  // the next chunk overwrites k_h, v_h, s_s and p_h
        }
    }
    if (pv_warp) wmma::store_matrix_sync(o_s + warp * 16, o_frag, D + 4, wmma::mem_row_major);
    __syncthreads();
    for (int e = tid; e < kTileQ * D; e += kTiledThreads) {
        const int i = e / D, d = e % D;
        const int64_t t = t0 + i;
        if (t < n_tok) reinterpret_cast<float*>(dst + t * dst_nb1)[h * D + d] = o_s[i * (D + 4) + d];
    }
}

size_t mma_shared_bytes(int64_t D) {
    const int64_t ldh = D + 8;
    return static_cast<size_t>((kTileQ + 2 * kChunk) * ldh * 2 + kTileQ * kLdS * 4 + kTileQ * kLdP * 2 +
                               kTileQ * (D + 4) * 4 + 2 * kTileQ * 4);
}

void launch_mma(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    const AttentionArgs a = attention_args(node, n_past);
    const dim3 grid(grid_for(a.n_head, 1, 65535), grid_for(a.n_tok, kTileQ, 65535));
    launch(attention_mma_kernel, grid, kTiledThreads, mma_shared_bytes(a.head_dim), stream, a);
}

// The cache rows and the head's offset in them are 16-byte aligned (for the vector loads).
bool mma_fits(const lmx_node& node) {
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    return q.ne[0] % 16 == 0 && q.ne[0] <= kTiledMaxDim && k.nb[1] % 16 == 0 && v.nb[1] % 16 == 0 &&
           aligned(k.data) && aligned(v.data);
}

template <int DT, int kThreads>
void launch_threads(const lmx_node& node, const int32_t* n_past, const RoundTarget& round, cudaStream_t stream) {
    AttentionArgs a = attention_args(node, n_past);
    a.round_q = static_cast<int8_t*>(round.q);
    a.round_scales = round.scales;
    const dim3 grid(grid_for(a.n_head, 1, 65535), grid_for(a.n_tok, 1, 65535));
    const size_t shared = attention_shared_bytes(a.head_dim, node.src[1]->ne[1]);
    launch(attention_kernel<DT, kThreads>, grid, kThreads, shared, stream, a);
}

template <int DT>
void launch_typed(const lmx_node& node, const int32_t* n_past, const RoundTarget& round, cudaStream_t stream) {
    const int64_t head_dim = node.src[0]->ne[0], n_tok = node.src[0]->ne[2];
    if (n_tok <= kDecodeMaxTokens && DT == LMX_TYPE_F16 && attention_decode_fits(node)) {
        launch_attention_decode(node, n_past, round, stream);  // cuda_attention_decode.cu
    } else if (n_tok <= kDecodeMaxTokens) {
        launch_threads<DT, kDecodeThreads>(node, n_past, round, stream);
    } else if (DT == LMX_TYPE_F16 && mma_fits(node)) {
        launch_mma(node, n_past, stream);
    } else if (head_dim <= kTiledMaxDim) {
        launch_tiled<DT>(node, n_past, stream);
    } else {
        launch_threads<DT, kPromptThreads>(node, n_past, RoundTarget{}, stream);
    }
}

template <int DT>
cudaError_t allow_shared(int bytes) {
    cudaError_t e = cudaFuncSetAttribute(attention_kernel<DT, kDecodeThreads>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
    const int tiled = static_cast<int>(tiled_shared_bytes(kTiledMaxDim));
    if (tiled <= bytes) {
        e = cudaFuncSetAttribute(attention_tiled_kernel<DT>, cudaFuncAttributeMaxDynamicSharedMemorySize, tiled);
        if (e != cudaSuccess) return e;
    }
    const int mma = static_cast<int>(mma_shared_bytes(kTiledMaxDim));
    if (DT == LMX_TYPE_F16 && mma <= bytes) {
        e = cudaFuncSetAttribute(attention_mma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, mma);
        if (e != cudaSuccess) return e;
    }
    return cudaFuncSetAttribute(attention_kernel<DT, kPromptThreads>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                bytes);
}

}  // namespace

size_t attention_shared_bytes(int64_t head_dim, int64_t n_ctx) {
    const size_t here = static_cast<size_t>(head_dim + kAttentionMaxThreads + n_ctx) * sizeof(float);
    return std::max(here, attention_decode_shared_bytes(head_dim, n_ctx));
}

cudaError_t attention_allow_shared(size_t bytes) {
    const int b = static_cast<int>(bytes);
    cudaError_t e = attention_decode_allow_shared(bytes);
    if (e == cudaSuccess) e = allow_shared<LMX_TYPE_F16>(b);
    if (e == cudaSuccess) e = allow_shared<LMX_TYPE_F32>(b);
    if (e == cudaSuccess) e = allow_shared<LMX_TYPE_BF16>(b);
    return e;
}

bool attention_can_round(const lmx_node& node, int32_t vec_dot_type) {
    const int64_t head_dim = node.src[0]->ne[0], n_tok = node.src[0]->ne[2];
    return vec_dot_type == LMX_TYPE_Q8_0 && n_tok <= kDecodeMaxTokens && head_dim % 32 == 0;
}

void launch_attention(const lmx_node& node, const int32_t* n_past, const RoundTarget& round, cudaStream_t stream) {
    switch (node.src[1]->dtype) {
        case LMX_TYPE_F16: launch_typed<LMX_TYPE_F16>(node, n_past, round, stream); return;
        case LMX_TYPE_BF16: launch_typed<LMX_TYPE_BF16>(node, n_past, round, stream); return;
        default: launch_typed<LMX_TYPE_F32>(node, n_past, round, stream); return;
    }
}

}  // namespace llamux::cuda
