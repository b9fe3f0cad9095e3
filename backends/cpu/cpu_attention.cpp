// Causal grouped-query attention over the KV cache. The numerics are the reference's
// (ops_ref_attention.cpp), which are ggml's:
//   - q rounded to the K cache's half type before the q.k dots;
//   - softmax in float with the sum in double;
//   - probabilities rounded to the V cache's half type before the weighted sum of V rows.
// Dots and the V sum accumulate in float (the reference uses double; ggml uses float): the
// difference is in the last bits. Each output row is computed by one thread, in an order that
// does not depend on the work item it is part of, so any thread count gives the same result.
//
// Work items: with AVX-512, a block of up to 16 query rows (tokens x query heads) of one KV
// head, so that each K/V row read serves every query of the block (cpu_attention_avx512.cpp),
// or for the few rows of a decode step several heads of one token with keys in the lanes
// (cpu_attention_row_avx512.cpp); with AVX2, blocks of 8 rows when there are 8 rows per KV
// head to fill them (cpu_attention_avx2.cpp); otherwise one (token, head) row
// (cpu_attention_rows.cpp).
// Later tokens see more rows, so items are chunks of the pool (taken one at a time), the
// biggest first.
#include <algorithm>

#include "cpu_attention.hpp"
#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

constexpr double kMinParallelMacs = 32.0 * 1024;

// Below this many query rows per KV head (a decode step of a model with groups of 1, 2 or
// 4 heads), a block would leave most of its 16 lanes empty: the row kernel, with keys in
// the lanes, runs them instead (Llama-2-7B's heads at depth 2048: 2x the block kernel's
// speed). Groups of 8 (TinyLlama) fill half a block and stay there, where they run ~25%
// faster than in the row kernel (docs/performance.md, "Attention deep into the context").
constexpr int64_t kFewRowsPerKvHead = 8;

// Heads per row-kernel work item: whole groups (they share each cache row read), as many
// per token as leave about two items per thread.
int64_t heads_per_item(const AttnShape& s, bool parallel, int threads) {
    if (!parallel) return s.n_head;
    const int64_t wanted = (2 * threads + s.n_tok - 1) / s.n_tok;  // parts of a token
    const int64_t parts = std::clamp<int64_t>(wanted, 1, s.n_head / s.group);
    const int64_t per_item = (s.n_head + parts - 1) / parts;
    return (per_item + s.group - 1) / s.group * s.group;
}

// How the block kernels cut the queries: blocks of n_t tokens x n_h heads of one group.
struct Blocking {
    int64_t n_t, n_h;
    int64_t n_tblocks, n_hparts, n_kv_head;
    int64_t items() const { return n_tblocks * n_hparts * n_kv_head; }
};

Blocking blocking_for(const AttnShape& s, int64_t n_kv_head, int64_t lanes, int64_t min_items) {
    // Whole groups serve the most queries per K/V row; a few long rows (decode) are split
    // by heads until every thread has items.
    int64_t n_h = std::min(s.group, lanes);
    for (;;) {
        const int64_t n_t = std::max<int64_t>(1, lanes / n_h);
        const Blocking b{n_t, n_h, (s.n_tok + n_t - 1) / n_t, (s.group + n_h - 1) / n_h,
                         n_kv_head};
        if (b.items() >= min_items || n_h == 1) return b;
        n_h = (n_h + 1) / 2;
    }
}

// Item i of the blocking: the last token blocks (the biggest) first.
AttnBlock block_at(const AttnShape& s, const Blocking& b, int64_t i) {
    const int64_t hp = i % b.n_hparts;
    const int64_t kv_head = (i / b.n_hparts) % b.n_kv_head;
    const int64_t tb = b.n_tblocks - 1 - i / (b.n_hparts * b.n_kv_head);
    const int64_t t0 = tb * b.n_t, h0 = kv_head * s.group + hp * b.n_h;
    return {t0, std::min(b.n_t, s.n_tok - t0), h0, std::min(b.n_h, s.group - hp * b.n_h)};
}

}  // namespace

bool attend_block_supports(const lmx_node& node) {
    CacheKind kc, vc;
    if (!cache_kind_of(node.src[1]->dtype, &kc) || !cache_kind_of(node.src[2]->dtype, &vc)) return false;
    const int64_t head_dim = node.src[0]->ne[0];
    if (kc == CacheKind::Blocks || vc == CacheKind::Blocks) return head_dim % 32 == 0 && head_dim <= kMaxBlockHeadDim;
    return head_dim % 16 == 0;
}

bool plan_attention(const lmx_node& node, size_t* per_thread_bytes, bool* parallel) {
    const int64_t head_dim = node.src[0]->ne[0], n_ctx = node.src[1]->ne[1];
    *per_thread_bytes = std::max({attend_row_scratch(head_dim, n_ctx),
                                  attend_block_scratch(head_dim, n_ctx),
                                  attend_block_avx2_scratch(head_dim, n_ctx),
                                  attend_row_avx512_scratch(head_dim, node.src[0]->ne[1], n_ctx)});
    *parallel = true;  // decided per run: the work grows with n_past
    return true;
}

lmx_status exec_attention(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_node& node = *step.node;
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const int64_t n_kv_head = node.iparams[1];
    const AttnShape s{q.ne[0], q.ne[1], q.ne[2], q.ne[1] / n_kv_head, node.fparams[0],
                      ctx.args.n_past};
    if (s.n_past < 0 || s.n_past + s.n_tok > k.ne[1]) return LMX_ERR_INVALID;

    const double macs = static_cast<double>(s.n_tok * s.n_head) *
                        static_cast<double>(s.n_past + s.n_tok) * static_cast<double>(s.head_dim);
    const bool parallel = step.parallel && macs >= kMinParallelMacs;

    if (ctx.isa >= Isa::Avx512 && attend_block_supports(node) &&
        s.n_tok * s.group < kFewRowsPerKvHead) {
        const int64_t per_item = heads_per_item(s, parallel, ctx.threads());
        const int64_t n_parts = (s.n_head + per_item - 1) / per_item;
        ctx.chunks(parallel, s.n_tok * n_parts, [&](int64_t i, int slot) {
            const int64_t t = s.n_tok - 1 - i / n_parts, h0 = (i % n_parts) * per_item;
            attend_row_avx512(node, s, t, h0, std::min(per_item, s.n_head - h0),
                              ctx.scratch.thread(slot));
        });
        return LMX_OK;
    }
    if (ctx.isa >= Isa::Avx512 && attend_block_supports(node)) {
        const int64_t min_items = parallel ? 2 * static_cast<int64_t>(ctx.threads()) : 1;
        const Blocking b = blocking_for(s, n_kv_head, kAttnLanes, min_items);
        ctx.chunks(parallel, b.items(), [&](int64_t i, int slot) {
            attend_block_avx512(node, s, block_at(s, b, i), ctx.scratch.thread(slot));
        });
        return LMX_OK;
    }
    if (ctx.isa >= Isa::Avx2 && attend_block_supports(node) && s.n_tok * s.group >= kAttnLanesAvx2) {
        const int64_t min_items = parallel ? 2 * static_cast<int64_t>(ctx.threads()) : 1;
        const Blocking b = blocking_for(s, n_kv_head, kAttnLanesAvx2, min_items);
        ctx.chunks(parallel, b.items(), [&](int64_t i, int slot) {
            attend_block_avx2(node, s, block_at(s, b, i), ctx.scratch.thread(slot));
        });
        return LMX_OK;
    }
    const Isa isa = attend_row_avx2_types(node) ? ctx.isa : Isa::Scalar;
    const int64_t n_items = s.n_tok * s.n_head;
    ctx.chunks(parallel, n_items, [&](int64_t i, int slot) {
        // The last tokens (the longest rows) first.
        const int64_t t = s.n_tok - 1 - i / s.n_head;
        attend_row(node, s, t, i % s.n_head, isa, ctx.scratch.thread(slot));
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
