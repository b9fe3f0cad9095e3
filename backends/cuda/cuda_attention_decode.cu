// Token generation's attention on an f16 cache: one block per (head, query), the scheme and
// numerics of the one-query kernel in cuda_attention.cu (scores, softmax, p rounded to f16,
// p v), with the cache read in 16-byte pieces of eight halves that a thread loads before it
// uses any. That kernel reads one half per load in loops the compiler unrolls by four, so
// each query waited for about nine dependent trips to memory; here the first rows of the
// scores and of p v are loaded at the start, together, and later ones (contexts past 128
// rows for the scores, past 4 * 1024 / (head_dim / 8) rows for p v) in batches.
//
// Shared memory: q (head_dim floats), kWarps * head_dim floats for the reductions and the
// warps' partial outputs, one score per cache row (n_ctx floats).
#include "cuda_attention_common.cuh"
#include "cuda_common.cuh"
#include "cuda_kernels.hpp"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = kAttentionMaxThreads;
constexpr int kWarps = kThreads / 32;
constexpr int kLanesPerRow = 8;                       // scores: 8 lanes share a cache row
constexpr int kRowsPerStep = kWarps * 32 / kLanesPerRow;
constexpr int kRowsPerLoad = 4;                       // p v: rows a thread loads at once

// kPieces: 16-byte pieces of a cache row per lane in the scores (head_dim <= 64 * kPieces).
template <int kPieces>
__global__ void __launch_bounds__(kThreads) attention_decode_kernel(const AttentionArgs a) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int D = a.head_dim, C = D / 8;  // C: 16-byte pieces per row, a power of two
    const int32_t n_past = *a.n_past;
    LLAMUX_EXTERN_SHARED(float, smem, 16);
    float* q_s = smem;                 // [D]
    float* red = q_s + D;              // [kWarps * D]: block reductions, then partial outputs
    float* p = red + kWarps * D;       // [n_ctx]
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    const int sub = lane / kLanesPerRow, sl = lane % kLanesPerRow;  // scores: row sub of the warp's 4
    const int c = tid % C, g = tid / C, G = kThreads / C;              // p v: piece c of row group g

    for (int64_t t = blockIdx.y; t < a.n_tok; t += gridDim.y) {
        for (int64_t h = blockIdx.x; h < a.n_head; h += gridDim.x) {
            const int64_t n_kv = n_past + t + 1;
            const int64_t col = (h / a.group) * D * 2;  // byte offset of the head in a cache row
            // Cache row j's pieces sl, sl + 8, ... (scores) and rows j, j + G, ... of piece c
            // (p v), zeros past the last row.
            const auto load_k = [&](int64_t j, uint4 (&kr)[kPieces]) {
#pragma unroll
                for (int i = 0; i < kPieces; ++i) {
                    const int pc = sl + kLanesPerRow * i;
                    kr[i] = j < n_kv && pc < C ? load8(a.k + j * a.k_nb1 + col + 16 * pc) : make_uint4(0, 0, 0, 0);
                }
            };
            const auto load_v = [&](int64_t j, uint4 (&vr)[kRowsPerLoad]) {
#pragma unroll
                for (int u = 0; u < kRowsPerLoad; ++u) {
                    const int64_t r = j + static_cast<int64_t>(u) * G;
                    vr[u] = r < n_kv ? load8(a.v + r * a.v_nb1 + col + 16 * c) : make_uint4(0, 0, 0, 0);
                }
            };
            // The first rows of both loops are loaded now: they depend on nothing this kernel
            // computes, so their trips to memory overlap the q load and the softmax.
            const int64_t k_first = static_cast<int64_t>(warp) * (32 / kLanesPerRow);
            uint4 kr[kPieces], vr[kRowsPerLoad];
            load_k(k_first + sub, kr);
            load_v(g, vr);
            const auto* qh = reinterpret_cast<const float*>(a.q + t * a.q_nb2 + h * a.q_nb1);
            __syncthreads();  // the previous (t, h) may still read q_s, red and p
            for (int d = tid; d < D; d += kThreads) q_s[d] = round_to<LMX_TYPE_F16>(qh[d]);
            __syncthreads();

            // Scores: 8 lanes per cache row (4 rows per warp at a time), lane sl taking pieces
            // sl, sl + 8, ... of it.
            float local_max = -INFINITY;
            for (int64_t j0 = k_first; j0 < n_kv; j0 += kRowsPerStep) {
                const int64_t j = j0 + sub;
                if (j0 != k_first) load_k(j, kr);
                const float s = shared_row_dot<kLanesPerRow>(q_s, kr, sl, C) * a.scale;
                if (j < n_kv) {
                    if (sl == 0) p[j] = s;
                    local_max = fmaxf(local_max, s);
                }
            }
            softmax_in_place<LMX_TYPE_F16, kThreads>(p, n_kv, local_max, red);

            // p v: thread (row group g, piece c) sums rows g, g + G, ... of piece c, loading
            // kRowsPerLoad rows before it adds any.
            float acc[8] = {};
            for (int64_t j = g; j < n_kv; j += static_cast<int64_t>(kRowsPerLoad) * G) {
                if (j != g) load_v(j, vr);
#pragma unroll
                for (int u = 0; u < kRowsPerLoad; ++u) {
                    const int64_t r = j + static_cast<int64_t>(u) * G;
                    const float pj = r < n_kv ? p[r] : 0.0f;
#pragma unroll
                    for (int e = 0; e < 8; ++e) acc[e] += pj * half_at(vr[u], e);
                }
            }
            const float o = fold_piece_sums<kWarps>(acc, C, D, red);
            if (tid < D) store_output(a, t, h, tid, o);
        }
    }
}

template <int kPieces>
void launch_pieces(const AttentionArgs& a, dim3 grid, size_t shared, cudaStream_t stream) {
    launch(attention_decode_kernel<kPieces>, grid, kThreads, shared, stream, a);
}

}  // namespace

size_t attention_decode_shared_bytes(int64_t head_dim, int64_t n_ctx) {
    return static_cast<size_t>(head_dim + kWarps * head_dim + n_ctx) * sizeof(float);
}

bool attention_decode_fits(const lmx_node& node) {
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t D = q.ne[0];
    const auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
    const bool power_of_two = D >= 8 && D <= kMaxHeadDim && (D & (D - 1)) == 0;
    return k.dtype == LMX_TYPE_F16 && v.dtype == LMX_TYPE_F16 && power_of_two && k.nb[1] % 16 == 0 &&
           v.nb[1] % 16 == 0 && aligned(k.data) && aligned(v.data);
}

cudaError_t attention_decode_allow_shared(size_t bytes) {
    const int b = static_cast<int>(bytes);
    cudaError_t e = cudaFuncSetAttribute(attention_decode_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, b);
    if (e == cudaSuccess) {
        e = cudaFuncSetAttribute(attention_decode_kernel<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, b);
    }
    return e;
}

void launch_attention_decode(const lmx_node& node, const int32_t* n_past, const RoundTarget& round,
                             cudaStream_t stream) {
    AttentionArgs a = attention_args(node, n_past);
    a.round_q = static_cast<int8_t*>(round.q);
    a.round_scales = round.scales;
    const dim3 grid(grid_for(a.n_head, 1, 65535), grid_for(a.n_tok, 1, 65535));
    const size_t shared = attention_decode_shared_bytes(a.head_dim, node.src[1]->ne[1]);
    if (a.head_dim <= 64) {
        launch_pieces<1>(a, grid, shared, stream);
    } else {
        launch_pieces<2>(a, grid, shared, stream);
    }
}

}  // namespace llamux::cuda
