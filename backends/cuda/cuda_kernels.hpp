// The CUDA backend's kernel launchers: host functions, one family per .cu file, that the
// host code (compiled by the C++ compiler) calls to queue work on a stream. They only
// launch: the caller checks cudaGetLastError() afterwards and names the node on failure.
// Shapes and dtypes have been checked by supports_node (cuda_program.cpp) before any launch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "llamux/backend_abi.h"

namespace llamux::cuda {

// Row addressing of a tensor of up to four dimensions: row r (flattened, i1 fastest) starts
// at i1*nb1 + i2*nb2 + i3*nb3 bytes from the data pointer, as in ggml.
struct RowGeom {
    int64_t ne1 = 1, ne2 = 1;
    int64_t nb1 = 0, nb2 = 0, nb3 = 0;
};

inline RowGeom row_geom(const lmx_tensor& t) {
    return RowGeom{t.ne[1], t.ne[2], static_cast<int64_t>(t.nb[1]), static_cast<int64_t>(t.nb[2]),
                   static_cast<int64_t>(t.nb[3])};
}
inline int64_t n_rows(const lmx_tensor& t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

// Threads per block of the attention kernel on prompts; it also bounds head_dim. Token
// generation (a few queries) runs blocks of kAttentionMaxThreads.
constexpr int kAttentionThreads = 256;
constexpr int kAttentionMaxThreads = 1024;
// Queries up to which attention runs the token-generation kernels (a block per query).
constexpr int64_t kAttentionDecodeMaxTokens = 4;
// Dynamic shared memory the attention kernels need for a cache of n_ctx rows.
size_t attention_shared_bytes(int64_t head_dim, int64_t n_ctx);
// Lets the attention kernels use up to `bytes` of dynamic shared memory (above 48 KiB needs
// the opt-in); called once per backend.
cudaError_t attention_allow_shared(size_t bytes);

// ---- one launcher per op (node shapes as in backend_abi.h) -------------------------------

// Where a kernel that rounds its own output for the next matmul writes it: the matmul's
// activation scratch, in the form ActOut::Q8 (cuda_program.cpp chooses the fusions).
struct RoundTarget {
    int32_t vec_dot_type = -1;  // LMX_TYPE_Q8_0 or LMX_TYPE_Q8_K; -1: no rounding
    void* q = nullptr;          // int8 quants, [rows][n]
    float* scales = nullptr;    // one per block
};

// dst[n, rows] = x / sqrt(mean(x^2) + eps) * w. With `add` (the add node just before, whose
// dst is x): x = add's a + b, computed here and also written to add's dst. With `round`:
// dst is also written rounded to round.vec_dot_type.
void launch_rms_norm(const lmx_node& node, const lmx_node* add, const RoundTarget& round, cudaStream_t stream);
// dst = silu(src[0]) * src[1]; with `round` also rounded: Q8_0 (n a multiple of 32) or Q8_K
// (one contiguous row, n a multiple of 256).
void launch_swiglu(const lmx_node& node, const RoundTarget& round, cudaStream_t stream);
// dst = src[0] + src[1]
void launch_add(const lmx_node& node, cudaStream_t stream);
// dst = src[0] converted (F32/F16/BF16), row by row, or as one flat row for a reshape
void launch_copy(const lmx_node& node, cudaStream_t stream);
// freq_base^(-2 / n_rot): the ratio of successive rotation angles of a rope node.
float theta_scale_of(const lmx_node& rope);
// Rotary embedding, normal mode; positions are the I32 tensor src[1] in device memory.
void launch_rope(const lmx_node& node, cudaStream_t stream);
// rope_k (and rope_q when not null), then the KV stores store_k (of rope_k's output) and
// store_v, in one launch with the same results. Only for nodes that fuse_nodes found safe to
// run at once (cuda_fusion_safety.hpp) and shaped as the Llama graph makes them: f32 q, k and
// v; heads back to back in the roped k and in v's rows; both caches of one type, rows of
// n_kv_heads * head_dim elements; the two ropes with the same positions and parameters.
void launch_rope_store(const lmx_node* rope_q, const lmx_node& rope_k, const lmx_node& store_k,
                       const lmx_node& store_v, const int32_t* n_past, cudaStream_t stream);
// cache rows n_past .. n_past + n_tok - 1 = src converted to the cache type. n_past is read
// from device memory when the kernel runs (so that a captured CUDA graph replays with the
// current value; see set_n_past).
void launch_kv_store(const lmx_node& node, const int32_t* n_past, cudaStream_t stream);
// Causal GQA attention over the cache; one block per (head, token); n_past as above. With
// `round` (only where attention_can_round said yes) dst is also written rounded.
void launch_attention(const lmx_node& node, const int32_t* n_past, const RoundTarget& round, cudaStream_t stream);
// The one-query attention kernel for f16 caches (cuda_attention_decode.cu), which
// launch_attention picks for token generation where attention_decode_fits: head_dim a power
// of two from 8 to 128, cache rows and base 16-byte aligned. Its shared memory for a cache
// of n_ctx rows (attention_shared_bytes covers it), and the opt-in to `bytes` of it.
bool attention_decode_fits(const lmx_node& node);
size_t attention_decode_shared_bytes(int64_t head_dim, int64_t n_ctx);
cudaError_t attention_decode_allow_shared(size_t bytes);
void launch_attention_decode(const lmx_node& node, const int32_t* n_past, const RoundTarget& round,
                             cudaStream_t stream);
// Token generation's attention split along the cache (cuda_attention_split.cu), for long
// contexts: blocks of kAttentionSplitRows cache rows, two launches. Fits the nodes the
// one-query f16 kernel takes (attention_split_fits); writes dst and `round` as
// launch_attention does. Its device scratch (AttentionSplitSizes bytes each, for the
// node's n_ctx; the tickets zeroed once, and left zeroed by every launch) is the caller's;
// the launcher fills in n_ctx and n_blocks.
constexpr int kAttentionSplitRows = 256;
struct AttentionSplitScratch {
    float* scores = nullptr;     // [n_tok][n_head][n_ctx]
    float2* stats = nullptr;     // [n_tok][n_head][n_blocks]: each block's maximum and exp-sum
    float* partial = nullptr;    // [n_tok][n_head][n_blocks][head_dim]: each block's share of p v
    unsigned* tickets = nullptr;  // [n_tok][n_head]
    int64_t n_ctx = 0;
    int n_blocks = 0;
};
struct AttentionSplitSizes {
    size_t scores, stats, partial, tickets;
};
bool attention_split_fits(const lmx_node& node);
AttentionSplitSizes attention_split_sizes(const lmx_node& node);
void launch_attention_split(const lmx_node& node, const int32_t* n_past, const RoundTarget& round,
                            const AttentionSplitScratch& scratch, cudaStream_t stream);
// Whether the attention kernel `node` runs with can also round its output to vec_dot_type:
// Q8_0 from the kernel for a few queries, head_dim a multiple of 32 (a warp per block).
bool attention_can_round(const lmx_node& node, int32_t vec_dot_type);
// *dst = n_past, queued on the stream (a kernel: its argument is copied at launch).
void launch_set_n_past(int32_t* dst, int32_t n_past, cudaStream_t stream);
// dst rows = table rows ids; the table as stored on the GPU (stored_dtype, row_bytes).
void launch_get_rows(const lmx_node& node, int32_t stored_dtype, size_t row_bytes,
                     cudaStream_t stream);

// ---- matrix products (cuda_activations.cu, cuda_mmv.cu, cuda_dequant.cu) -----------------

// What launch_round_activations writes: the rounded values d * q as f16 [M][K] (cuBLAS) or
// f32 [M][K] (matrix-vector kernels on float-decoded weights), or the int8 quants [M][K]
// plus one float scale per block (the int8 matrix-vector kernels).
enum class ActOut { F16, F32, Q8 };
// x [M rows of K] (f32, row stride x_row_bytes) rounded as the reference stores it in
// vec_dot_type (LMX_TYPE_Q8_0: blocks of 32, LMX_TYPE_Q8_K: blocks of 256; K a multiple).
// `scales` (K / 32 * M floats) is written for ActOut::Q8 only.
void launch_round_activations(int32_t vec_dot_type, ActOut kind, const float* x, size_t x_row_bytes,
                              int64_t K, int64_t M, void* out, float* scales, cudaStream_t stream);

// y[N] = W[N rows of K] x[K] for F16 or F32 weights (row stride row_bytes); x is f32.
// (Quantized weights go through launch_mmv_q8.)
void launch_mmv(int32_t stored_dtype, const void* w, size_t row_bytes, int64_t K, int64_t N,
                const float* x, float* y, cudaStream_t stream);
// True for the stored types launch_mmv_q8 reads: Q4_0 and Q8_0 (on Q8_0 activations), Q4_K,
// Q5_K and Q6_K (on Q8_K activations); all but Q5_K in the file's blocks or split
// (cuda_stored_types.hpp). Q4_K/Q5_K and split rows must start 16-byte aligned.
bool mmv_q8_supports(int32_t stored_dtype);
// Up to kMaxMmvGroup weights of one stored type and row length that multiply the same x
// (q, k and v of a layer; gate and up): one launch computes y_i = W_i x for all of them,
// their rows numbered one after another. A single matmul is a group of one.
constexpr int kMaxMmvGroup = 3;
struct MmvGroup {
    const void* w[kMaxMmvGroup] = {};
    size_t row_bytes[kMaxMmvGroup] = {};
    float* y[kMaxMmvGroup] = {};
    int64_t rows[kMaxMmvGroup] = {};
    int n = 0;
};
// The group's products with x given as int8 activations: quants xq[K] (16-byte aligned)
// and one scale per block, xd[K / 32] for Q8_0 or xd[K / 256] for Q8_K, as
// launch_round_activations(vec_dot_type, ActOut::Q8) writes them. Weight allocations must extend at least 2 bytes past their last row (kAllocPadding).
void launch_mmv_q8(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                   cudaStream_t stream);
// What launch_mmv_q8_rope_store does besides the products of a q/k/v group (group.n == 3,
// q, k and v in that order; one token): q and k rotated as launch_rope rotates them into
// q_rope and k_rope (contiguous heads of head_dim), and the rotated k and v converted to
// f16 into row n_past of the caches (n_past read from device memory, as kv_store does).
// Each value is the one the separate rope and kv_store kernels would write.
struct RopeStoreEpilogue {
    float* q_rope = nullptr;
    float* k_rope = nullptr;
    void* k_cache = nullptr;  // row 0 of each f16 cache
    void* v_cache = nullptr;
    int64_t k_cache_nb1 = 0, v_cache_nb1 = 0;
    const int32_t* positions = nullptr;  // positions[0]: the token's
    const int32_t* n_past = nullptr;
    int head_dim = 0, n_rot = 0;  // head_dim even, n_rot <= head_dim and even
    float theta_scale = 0.0f, freq_scale = 0.0f;
};
// Rows of each of the group's matrices must be a multiple of 4 (a block's four rows never
// straddle two of them, and hold whole pairs).
void launch_mmv_q8_rope_store(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq,
                              const float* xd, const RopeStoreEpilogue& epilogue, cudaStream_t stream);
// The add + rms_norm that launch_mmv_q8_norm does after the product (fusion level 5): one
// row of n floats (a multiple of 32; every pointer 16-byte aligned), x = a + the product
// (the group's single matrix's output) written to s, dst = x / sqrt(mean(x^2) + eps) * w,
// and with round.vec_dot_type Q8_0 (or Q8_K, n a multiple of 256) also dst rounded for the
// next matmul. s is a (x += ...) or overlaps neither a nor the product. The same formulas as
// launch_rms_norm with its fused add.
struct NormTail {
    const float* a = nullptr;
    float* s = nullptr;
    const float* w = nullptr;
    float* dst = nullptr;
    int n = 0;
    float eps = 0.0f;
    RoundTarget round;
};
// launch_mmv_q8 for a group of one, then the norm by the launch's last block (found by
// `ticket`, a zeroed device counter that it leaves at zero).
void launch_mmv_q8_norm(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                        const NormTail& norm, unsigned* ticket, cudaStream_t stream);
// What launch_mmv_q8_swiglu does besides the products of a gate/up group (group.n == 2,
// gate then up, rows[0] == rows[1] == n, a multiple of 32; Q4_0 or Q8_0 weights in either
// layout; one token): h = silu(gate) * up as launch_swiglu computes it, and h rounded to
// Q8_0 into `round` for the next matmul. `round` must not be the activations the products
// read: the rounding of one block of h runs while other blocks of the launch still read
// those.
struct SwigluEpilogue {
    float* h = nullptr;  // n floats
    RoundTarget round;   // vec_dot_type LMX_TYPE_Q8_0
};
// A warp computes one element of h from its gate and up rows, read side by side; the warp
// that finishes a 32-element block of h last (found by tickets[block], n / 32 zeroed
// device counters that it leaves at zero) rounds that block.
void launch_mmv_q8_swiglu(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq,
                          const float* xd, const SwigluEpilogue& epilogue, unsigned* tickets, cudaStream_t stream);
// True for the stored types launch_mmv_q8_swiglu reads.
bool mmv_q8_swiglu_supports(int32_t stored_dtype);
// Bytes device_alloc adds past the end of every allocation: kernels that read quantized
// blocks as whole aligned words may read up to 3 bytes past the last block.
constexpr size_t kAllocPadding = 16;
// out[n_rows][K] (f16, contiguous) = rows of a quantized weight (Q4_0, Q8_0, Q4_K, Q5_K,
// Q6_K; split or not) dequantized, for the cuBLAS path of prompt processing.
void launch_dequantize_f16(int32_t stored_dtype, const void* w, size_t row_bytes, int64_t K,
                           int64_t n_rows, void* out, cudaStream_t stream);
// out[M][K] (f16, contiguous) = x[M rows of K] (f32, row stride x_row_bytes)
void launch_f32_to_f16(const float* x, size_t x_row_bytes, int64_t K, int64_t M, void* out,
                       cudaStream_t stream);

}  // namespace llamux::cuda
