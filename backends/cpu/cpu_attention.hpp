// Internals of the attention executor (cpu_attention.cpp), shared by its two kernels:
//   - cpu_attention_rows.cpp: one (token, head) pair at a time, scalar or AVX2;
//   - cpu_attention_avx512.cpp: a block of up to 16 query rows of one KV head at a time.
// Both follow the numerics contract stated at the top of cpu_attention.cpp, and both compute
// each output row in an order that does not depend on which other rows share its work item.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"
#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"

namespace llamux::cpu {

struct AttnShape {
    int64_t head_dim, n_head, n_tok;
    int64_t group;  // query heads per KV head
    float scale;
    int32_t n_past;
};

// Keys ahead whose cache rows the SIMD kernels ask into the cache: a head's part of a
// row is a few hundred bytes at a stride of the whole row, which the hardware prefetchers
// do not follow, so without this each key waits for memory in turn.
constexpr int64_t kPrefetchKeys = 64;

inline void prefetch_bytes(const std::byte* p, size_t bytes) {
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 0, 3);
}

// Bytes of `elements` values of a cache row (whole blocks for a block type: every head
// offset and span the kernels take is one).
inline size_t cache_bytes(const lmx_tensor& cache, int64_t elements) {
    const DTypeInfo& ti = info(static_cast<DType>(cache.dtype));
    return static_cast<size_t>(elements / ti.block_size) * ti.type_size;
}

// ---- rows kernel (any CPU) -----------------------------------------------------------------

// Per-thread scratch of attend_row: n_ctx scores and one rounded q.
size_t attend_row_scratch(int64_t head_dim, int64_t n_ctx);

// dst row of query (t, h), with the kernels of `isa`: Scalar, or (when
// attend_row_avx2_types) Avx2 or above, which the CPU must have.
void attend_row(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h, Isa isa,
                std::byte* scratch);
// True when both caches are F32, F16 or quantized: the types attend_row has AVX2 code for.
bool attend_row_avx2_types(const lmx_node& node);

// ---- row kernel (AVX-512): keys in the lanes, several heads per item ---------------------

// What a row-kernel work item reads: heads h0 .. h0+n_h-1 of token t. Their parts of a cache
// row lie side by side, so walking keys in the outer loop and heads in the inner one reads
// each row's span in one piece, which the hardware prefetchers follow, and the heads of a
// group share each row read.
struct AttnHeads {
    const lmx_tensor& k;
    const lmx_tensor& v;
    int64_t D, n_h, n_kv, group, h0;
    size_t k_off, v_off;    // bytes into a cache row of head h0's KV head
    size_t span_k, span_v;  // bytes of a row the item reads
    // Bytes from head h0's KV head to head h0 + h's, in cache c.
    size_t kv_bytes(const lmx_tensor& c, int64_t h) const {
        return cache_bytes(c, ((h0 + h) / group - h0 / group) * D);
    }
};

inline AttnHeads attn_heads(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h0,
                            int64_t n_h) {
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t kv0 = h0 / s.group, kv_last = (h0 + n_h - 1) / s.group;
    const int64_t first = kv0 * s.head_dim;              // elements
    const int64_t span = (kv_last - kv0 + 1) * s.head_dim;  // elements
    return {k, v, s.head_dim, n_h, s.n_past + t + 1, s.group, h0,
            cache_bytes(k, first), cache_bytes(v, first), cache_bytes(k, span), cache_bytes(v, span)};
}

// cpu_attention_row_avx512.cpp, for the few query rows of a decode step: heads h0 ..
// h0+n_h-1 of token t, each row computed in the same order whatever n_h is. Same types and
// head_dim condition as the block kernel (attend_block_supports); needs AVX-512 F/BW/VL,
// FMA and F16C.
size_t attend_row_avx512_scratch(int64_t head_dim, int64_t n_head, int64_t n_ctx);
void attend_row_avx512(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h0,
                       int64_t n_h, std::byte* scratch);

// ---- block kernel (AVX-512) ----------------------------------------------------------------

constexpr int64_t kAttnLanes = 16;  // query rows of one block: one per vector lane

// Query rows t0 .. t0+n_t-1 x heads h0 .. h0+n_h-1 (n_t * n_h <= kAttnLanes), all of one KV
// head's group.
struct AttnBlock {
    int64_t t0, n_t, h0, n_h;
};

// True if attend_block_avx512 (and attend_row_avx512) take the node: F32, F16 or quantized
// caches, head_dim a multiple of 16 (32 with a quantized cache).
bool attend_block_supports(const lmx_node& node);
// Per-thread scratch of attend_block_avx512.
size_t attend_block_scratch(int64_t head_dim, int64_t n_ctx);
// Needs AVX-512 F/BW/VL, FMA and F16C.
void attend_block_avx512(const lmx_node& node, const AttnShape& s, const AttnBlock& b,
                         std::byte* scratch);

}  // namespace llamux::cpu
