// Token generation's attention over a long cache, split along the cache (flash-decoding).
// The one-query kernel (cuda_attention_decode.cu) gives each (head, query) one block, so deep
// into a context a 7B layer's 32 heads stream their cache (64 MiB at 4096 rows) through 32
// of the GPU's SMs. Here a block takes kRows rows of one (head, query), in two launches that
// keep the reference's numerics (p = round(exp(s - max) / sum) before p v):
//   1. scores: s_j = q . k_j * scale for the block's rows, written to a scratch row, and the
//      rows' maximum m_b and exp-sum l_b = sum exp(s_j - m_b);
//   2. p v: every block folds all blocks' (m_b, l_b) into the query's maximum M and sum
//      L = sum l_b exp(m_b - M) (the same reduction in every block, so the same values),
//      forms its rows' p and their share of p v; the last block of the (head, query) to
//      finish (a ticket) adds the shares in block order and writes dst, and its Q8_0
//      rounding for attn_output where asked.
// L rounds differently from the one-block kernel's direct sum (the prompt kernels in
// cuda_attention.cu fold their chunks the same way); everything else is that kernel's.
// Each thread loads all its cache pieces before it uses any: one trip to memory per launch.
#include "cuda_attention_common.cuh"
#include "cuda_common.cuh"
#include "cuda_kernels.hpp"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = kAttentionSplitRows;  // cache rows per block: one per thread in pass 2
static_assert(kRows == kThreads, "pass 2 gives each thread one row's probability");
constexpr int kLanesPerRow = 8;                       // scores: 8 lanes share a cache row
constexpr int kRowsPerStep = kThreads / kLanesPerRow;  // rows the block scores at a time
constexpr int kSteps = kRows / kRowsPerStep;
constexpr int kMaxVRows = kMaxHeadDim / 8;  // p v: rows per thread, kRows / (kThreads / (head_dim / 8))

// Where (head h, query t) keeps its scores, the blocks' (m, l), their partial outputs and
// its ticket.
struct SplitRow {
    float* scores;
    float2* stats;
    float* partial;
    unsigned* ticket;
};
__device__ __forceinline__ SplitRow split_row(const AttentionSplitScratch& s, int64_t n_head, int64_t t, int64_t h,
                                              int head_dim) {
    const int64_t row = t * n_head + h;
    return SplitRow{s.scores + row * s.n_ctx, s.stats + row * s.n_blocks,
                    s.partial + row * s.n_blocks * head_dim, s.tickets + row};
}

// Pass 1. kPieces: 16-byte pieces of a cache row per lane (head_dim <= 64 * kPieces).
template <int kPieces>
__global__ void __launch_bounds__(kThreads) attention_split_scores_kernel(const AttentionArgs a,
                                                                          const AttentionSplitScratch scratch) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int D = a.head_dim, C = D / 8;
    const int64_t t = blockIdx.z, h = blockIdx.y;
    const int64_t n_kv = *a.n_past + t + 1;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kRows;
    if (first >= n_kv) return;  // the whole block: no barrier ahead is missed
    __shared__ float q_s[kMaxHeadDim];
    __shared__ float red[32];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int sub = lane / kLanesPerRow, sl = lane % kLanesPerRow;
    const int64_t col = (h / a.group) * D * 2;  // byte offset of the head in a cache row
    // Row of step i for this lane's group of 8: the warp's 4 rows of the step.
    const auto row_of = [&](int i) { return first + i * kRowsPerStep + warp * (32 / kLanesPerRow) + sub; };
    uint4 kr[kSteps][kPieces];
#pragma unroll
    for (int i = 0; i < kSteps; ++i) {
        const int64_t j = row_of(i);
#pragma unroll
        for (int k = 0; k < kPieces; ++k) {
            const int pc = sl + kLanesPerRow * k;
            kr[i][k] = j < n_kv && pc < C ? load8(a.k + j * a.k_nb1 + col + 16 * pc) : make_uint4(0, 0, 0, 0);
        }
    }
    const auto* qh = reinterpret_cast<const float*>(a.q + t * a.q_nb2 + h * a.q_nb1);
    for (int d = tid; d < D; d += kThreads) q_s[d] = round_to<LMX_TYPE_F16>(qh[d]);
    __syncthreads();

    const SplitRow out = split_row(scratch, a.n_head, t, h, D);
    float score[kSteps];
    float local_max = -INFINITY;
#pragma unroll
    for (int i = 0; i < kSteps; ++i) {
        score[i] = shared_row_dot<kLanesPerRow>(q_s, kr[i], sl, C) * a.scale;
        const int64_t j = row_of(i);
        if (j < n_kv) {
            if (sl == 0) out.scores[j] = score[i];
            local_max = fmaxf(local_max, score[i]);
        }
    }
    const float m = block_max(local_max, red);
    float local_sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kSteps; ++i) {
        if (sl == 0 && row_of(i) < n_kv) local_sum += expf(score[i] - m);
    }
    const float l = block_sum(local_sum, red);
    if (tid == 0) out.stats[blockIdx.x] = make_float2(m, l);
}

// Pass 2: the block's rows of p v; thread (row group g, piece c) loads rows g, g + G, ... of
// piece c of V before anything else.
__global__ void __launch_bounds__(kThreads) attention_split_pv_kernel(const AttentionArgs a,
                                                                      const AttentionSplitScratch scratch) {
    const int D = a.head_dim, C = D / 8;
    const int tid = threadIdx.x;
    const int c = tid % C, g = tid / C, G = kThreads / C;
    const int64_t t = blockIdx.z, h = blockIdx.y;
    const int64_t col = (h / a.group) * D * 2;
    pdl_wait();  // n_past and the scores come from earlier kernels
    pdl_trigger();
    const int64_t n_kv = *a.n_past + t + 1;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kRows;
    if (first >= n_kv) return;
    const int n_used = static_cast<int>((n_kv + kRows - 1) / kRows);
    uint4 vr[kMaxVRows];
#pragma unroll
    for (int u = 0; u < kMaxVRows; ++u) {
        const int64_t r = first + g + static_cast<int64_t>(u) * G;
        const bool in = u * G < kRows && r < n_kv;
        vr[u] = in ? load8(a.v + r * a.v_nb1 + col + 16 * c) : make_uint4(0, 0, 0, 0);
    }
    __shared__ float red[32];
    __shared__ float p_s[kRows];
    __shared__ float part[kWarps * kMaxHeadDim];
    __shared__ unsigned order;
    const SplitRow row = split_row(scratch, a.n_head, t, h, D);
    float local_max = -INFINITY;
    for (int b = tid; b < n_used; b += kThreads) local_max = fmaxf(local_max, row.stats[b].x);
    const float M = block_max(local_max, red);
    float local_sum = 0.0f;
    for (int b = tid; b < n_used; b += kThreads) local_sum += row.stats[b].y * expf(row.stats[b].x - M);
    const float inv_sum = 1.0f / block_sum(local_sum, red);
    const int64_t j = first + tid;
    p_s[tid] = j < n_kv ? round_to<LMX_TYPE_F16>(expf(row.scores[j] - M) * inv_sum) : 0.0f;
    __syncthreads();

    float acc[8] = {};
#pragma unroll
    for (int u = 0; u < kMaxVRows; ++u) {
        if (u * G < kRows) {
            const float pj = p_s[g + u * G];
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] += pj * half_at(vr[u], e);
        }
    }
    const float share = fold_piece_sums<kWarps>(acc, C, D, part);
    if (tid < D) {
        row.partial[static_cast<int64_t>(blockIdx.x) * D + tid] = share;
        __threadfence();  // the share is visible to the last block before the ticket
    }
    __syncthreads();
    if (tid == 0) order = atomicAdd(row.ticket, 1u);
    __syncthreads();
    if (order != static_cast<unsigned>(n_used - 1)) return;
    __threadfence();
    if (tid < D) {
        float o = 0.0f;
        for (int b = 0; b < n_used; ++b) o += __ldcg(row.partial + static_cast<int64_t>(b) * D + tid);  // past L1
        store_output(a, t, h, tid, o);
    }
    if (tid == 0) *row.ticket = 0;  // for the next launch (kernels on a stream do not overlap)
}

}  // namespace

bool attention_split_fits(const lmx_node& node) {
    return node.src[0]->ne[2] <= kAttentionDecodeMaxTokens && attention_decode_fits(node);
}

AttentionSplitSizes attention_split_sizes(const lmx_node& node) {
    const int64_t head_dim = node.src[0]->ne[0], n_head = node.src[0]->ne[1], n_tok = node.src[0]->ne[2];
    const int64_t n_ctx = node.src[1]->ne[1];
    const int64_t n_blocks = (n_ctx + kRows - 1) / kRows;
    const int64_t rows = n_head * n_tok;
    return AttentionSplitSizes{static_cast<size_t>(rows * n_ctx) * sizeof(float),
                               static_cast<size_t>(rows * n_blocks) * sizeof(float2),
                               static_cast<size_t>(rows * n_blocks * head_dim) * sizeof(float),
                               static_cast<size_t>(rows) * sizeof(unsigned)};
}

void launch_attention_split(const lmx_node& node, const int32_t* n_past, const RoundTarget& round,
                            const AttentionSplitScratch& scratch, cudaStream_t stream) {
    AttentionArgs a = attention_args(node, n_past);
    a.round_q = static_cast<int8_t*>(round.q);
    a.round_scales = round.scales;
    AttentionSplitScratch s = scratch;
    s.n_ctx = node.src[1]->ne[1];
    s.n_blocks = static_cast<int>((s.n_ctx + kRows - 1) / kRows);
    const dim3 grid(static_cast<unsigned>(s.n_blocks), static_cast<unsigned>(a.n_head),
                    static_cast<unsigned>(a.n_tok));
    if (a.head_dim <= 64) {
        launch(attention_split_scores_kernel<1>, grid, kThreads, 0, stream, a, s);
    } else {
        launch(attention_split_scores_kernel<2>, grid, kThreads, 0, stream, a, s);
    }
    launch(attention_split_pv_kernel, grid, kThreads, 0, stream, a, s);
}

}  // namespace llamux::cuda
