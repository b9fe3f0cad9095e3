// Internals of the attention executor (cpu_attention.cpp), shared by its kernels:
//   - cpu_attention_rows.cpp: one (token, head) pair at a time, scalar or AVX2;
//   - cpu_attention_avx2.cpp / cpu_attention_avx512.cpp: a block of up to 8 / 16 query rows
//     of one KV head at a time;
//   - cpu_attention_row_avx512.cpp: the few rows of a decode step, keys in the lanes.
// All follow the numerics contract stated at the top of cpu_attention.cpp, and all compute
// each output row in an order that does not depend on which other rows share its work item.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cpu_tensor.hpp"
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

// How a kernel reads a cache: F32 and F16 compiled into the loop; Blocks: any of the 32-value
// block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), chosen per load from the dtype, a branch that
// always goes the same way.
enum class CacheKind { F32, F16, Blocks };

// The widest head the Blocks kind takes (q_for_keys holds a head's Q8_0 blocks on the stack).
constexpr int64_t kMaxBlockHeadDim = 1024;

// The kind of a cache type; false for a type the block kernels do not read (BF16).
inline bool cache_kind_of(int32_t dtype, CacheKind* kind) {
    switch (dtype) {
        case LMX_TYPE_F32: *kind = CacheKind::F32; return true;
        case LMX_TYPE_F16: *kind = CacheKind::F16; return true;
        case LMX_TYPE_Q8_0: case LMX_TYPE_Q4_0: case LMX_TYPE_Q4_1: case LMX_TYPE_Q5_0: case LMX_TYPE_Q5_1:
            *kind = CacheKind::Blocks;
            return true;
        default: return false;
    }
}

// Calls f(kc, vc) with the node's cache kinds as std::integral_constant<CacheKind, ...>
// values, so that a kernel template is instantiated for each pair; both types must have a
// kind (attend_block_supports).
template <typename F>
void with_cache_kinds(const lmx_node& node, F&& f) {
    using F32 = std::integral_constant<CacheKind, CacheKind::F32>;
    using F16 = std::integral_constant<CacheKind, CacheKind::F16>;
    using Blocks = std::integral_constant<CacheKind, CacheKind::Blocks>;
    CacheKind kc = CacheKind::F32, vc = CacheKind::F32;
    cache_kind_of(node.src[1]->dtype, &kc);
    cache_kind_of(node.src[2]->dtype, &vc);
    const auto with_v = [&](auto k) {
        switch (vc) {
            case CacheKind::F32: return f(k, F32{});
            case CacheKind::F16: return f(k, F16{});
            case CacheKind::Blocks: return f(k, Blocks{});
        }
    };
    switch (kc) {
        case CacheKind::F32: return with_v(F32{});
        case CacheKind::F16: return with_v(F16{});
        case CacheKind::Blocks: return with_v(Blocks{});
    }
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

// Query rows t0 .. t0+n_t-1 x heads h0 .. h0+n_h-1 (n_t * n_h <= the kernel's lanes: 16 for
// AVX-512, 8 for AVX2), all of one KV head's group.
struct AttnBlock {
    int64_t t0, n_t, h0, n_h;
};

// A block kernel's per-thread scratch, for Lanes query rows and Keys keys scored together.
template <int64_t Lanes, int64_t Keys>
struct BlockScratch {
    float* q;   // [Lanes][head_dim] the block's q rows, rounded as K's type sees them
    float* qt;  // [head_dim][Lanes] the same, transposed
    float* kf;  // [Keys][head_dim] K rows as float
    float* p;   // [n_ctx][Lanes] scores, then probabilities

    static size_t bytes(int64_t head_dim, int64_t n_ctx) {
        return static_cast<size_t>((2 * Lanes + Keys) * head_dim + n_ctx * Lanes) * sizeof(float);
    }
    static BlockScratch at(std::byte* base, int64_t head_dim) {
        auto* q = reinterpret_cast<float*>(base);
        float* qt = q + Lanes * head_dim;
        float* kf = qt + head_dim * Lanes;
        return {q, qt, kf, kf + Keys * head_dim};
    }
};

// The lanes of a block kernel: lane r holds query row (token t0 + r / n_h, head h0 + r % n_h).
template <int64_t Lanes>
struct BlockLanes {
    alignas(64) int32_t limit[Lanes];  // keys the lane's row sees; n_kv for an unused lane
    float* out[Lanes];                 // the row's dst; null for an unused lane
    const float* q[Lanes];             // the row's q; null for an unused lane
    int64_t n_rows;                    // lanes used: n_t * n_h
    int64_t n_kv;                      // keys the block's last token sees
};

template <int64_t Lanes>
BlockLanes<Lanes> block_lanes(const lmx_node& node, const AttnShape& s, const AttnBlock& b) {
    BlockLanes<Lanes> l;
    l.n_rows = b.n_t * b.n_h;
    l.n_kv = s.n_past + b.t0 + b.n_t;
    for (int64_t r = 0; r < Lanes; ++r) {
        if (r >= l.n_rows) {
            l.limit[r] = static_cast<int32_t>(l.n_kv);
            l.out[r] = nullptr;
            l.q[r] = nullptr;
            continue;
        }
        const int64_t t = b.t0 + r / b.n_h, h = b.h0 + r % b.n_h;
        l.limit[r] = static_cast<int32_t>(s.n_past + t + 1);
        l.out[r] = reinterpret_cast<float*>(row_ptr(*node.dst, t)) + h * s.head_dim;
        l.q[r] = reinterpret_cast<const float*>(row_ptr(*node.src[0], h, t));
    }
    return l;
}

// The passes of a block kernel over V: pass(c0, cols, g, o, n_seen) for columns c0 ..
// c0+cols-1 (cols <= MaxCols) of the rows in lanes g .. g+Rows-1, whose dst columns are
// o[0 .. Rows) (null past the used lanes); n_seen: keys any of those rows sees.
template <int64_t Rows, int64_t MaxCols, int64_t Lanes, typename Pass>
void for_v_passes(const BlockLanes<Lanes>& l, int64_t head_dim, Pass&& pass) {
    for (int64_t c0 = 0; c0 < head_dim; c0 += MaxCols) {
        const int64_t cols = std::min(MaxCols, head_dim - c0);
        for (int64_t g = 0; g < l.n_rows; g += Rows) {
            float* o[Rows];
            int64_t n_seen = 0;
            for (int64_t r = 0; r < Rows; ++r) {
                const bool used = g + r < l.n_rows;
                o[r] = used ? l.out[g + r] + c0 : nullptr;
                if (used) n_seen = std::max<int64_t>(n_seen, l.limit[g + r]);
            }
            pass(c0, cols, g, o, n_seen);
        }
    }
}

// True if the block kernels (attend_block_avx512, attend_block_avx2) and attend_row_avx512
// take the node: F32, F16 or quantized caches, head_dim a multiple of 16 (32 with a
// quantized cache).
bool attend_block_supports(const lmx_node& node);
// Per-thread scratch of attend_block_avx512.
size_t attend_block_scratch(int64_t head_dim, int64_t n_ctx);
// Needs AVX-512 F/BW/VL, FMA and F16C.
void attend_block_avx512(const lmx_node& node, const AttnShape& s, const AttnBlock& b,
                         std::byte* scratch);

// ---- block kernel (AVX2) -------------------------------------------------------------------

constexpr int64_t kAttnLanesAvx2 = 8;

// Per-thread scratch of attend_block_avx2 (less than attend_block_scratch's).
size_t attend_block_avx2_scratch(int64_t head_dim, int64_t n_ctx);
// Takes what attend_block_supports accepts; needs AVX2, FMA and F16C.
void attend_block_avx2(const lmx_node& node, const AttnShape& s, const AttnBlock& b, std::byte* scratch);

}  // namespace llamux::cpu
