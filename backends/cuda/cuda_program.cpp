// What the CUDA backend runs (supports), how a run of nodes becomes a program (compile:
// checks once, picks kernels, sizes scratch) and how a program runs (execute: launches on
// the backend's stream, no allocation, no synchronisation).
#include <algorithm>
#include <climits>

#include "cuda_backend.hpp"
#include "cuda_fusion_safety.hpp"
#include "cuda_kernels.hpp"
#include "cuda_stored_types.hpp"
#include "llamux/ir.hpp"
#include "llamux/ops_ref.hpp"

namespace llamux::cuda {
namespace {

// "matmul l3.ffn_up (layer 3): " -- the prefix of every message about a node.
std::string node_label(const lmx_node& node) {
    const bool known = node.op > LMX_OP_NONE && node.op < LMX_OP_COUNT;
    std::string s = known ? std::string(op_name(static_cast<lmx_op>(node.op)))
                          : "op " + std::to_string(node.op);
    s += ' ';
    s += node.dst && node.dst->name && node.dst->name[0] ? node.dst->name : "(unnamed dst)";
    if (node.layer >= 0) s += " (layer " + std::to_string(node.layer) + ")";
    return s + ": ";
}

bool fits_int(const lmx_tensor* t) {
    if (!t) return true;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (t->ne[k] > INT_MAX) return false;
    }
    return true;
}

bool is_float_storage(int32_t dtype) {
    return dtype == LMX_TYPE_F32 || dtype == LMX_TYPE_F16 || dtype == LMX_TYPE_BF16;
}

// The table of a get_rows node as the kernels read it: a prepared weight's stored type, or
// the tensor's own type for an activation table.
int32_t table_type(const CudaBackend& b, const lmx_tensor& t) {
    return t.role == LMX_ROLE_WEIGHT ? stored_type(t.dtype, b.settings.split_blocks) : t.dtype;
}

// The cache types the KV store and attention kernels read and write (a quantized cache stays on
// the host backend, which takes those nodes over).
bool is_cache_type(int32_t dtype) {
    return dtype == LMX_TYPE_F32 || dtype == LMX_TYPE_F16 || dtype == LMX_TYPE_BF16;
}

// n_past leaves room for the node's new rows in the cache (as the reference checks).
lmx_status check_n_past(const lmx_node& node, int32_t n_past, std::string* why) {
    const lmx_tensor& cache = node.op == LMX_OP_KV_STORE ? *node.dst : *node.src[1];
    int64_t n_tok = 0;
    if (node.op == LMX_OP_KV_STORE) {
        const lmx_tensor& src = *node.src[0];
        const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
        n_tok = three_d ? src.ne[2] : src.ne[1];
    } else {
        n_tok = node.src[0]->ne[2];
    }
    if (n_past >= 0 && n_past + n_tok <= cache.ne[1]) return LMX_OK;
    *why = std::string("cache ") + (cache.name ? cache.name : "") + ": n_past " + std::to_string(n_past) +
           " + " + std::to_string(n_tok) + " new tokens expected within the cache's " +
           std::to_string(cache.ne[1]) + " rows, got " + std::to_string(n_past + n_tok);
    return LMX_ERR_INVALID;
}

RoundTarget round_target(const CudaBackend& b, const CompiledNode& c) {
    if (c.round_out < 0) return RoundTarget{};
    return RoundTarget{c.round_out, b.gemm_act.ptr, static_cast<float*>(b.act_scales.ptr)};
}

bool same_rows(const lmx_tensor& a, const lmx_tensor& b) {
    return a.data == b.data && a.ne[0] == b.ne[0] && n_rows(a) == n_rows(b) && a.nb[1] == b.nb[1] &&
           a.nb[2] == b.nb[2] && a.nb[3] == b.nb[3];
}

bool is_f32_rows(const lmx_tensor& t) { return t.dtype == LMX_TYPE_F32 && t.nb[0] == sizeof(float); }

// nodes[j] = rope(k), j + 1 = kv_store of its output, j + 2 = kv_store of v, in the shapes
// launch_rope_store handles.
bool rope_store_shapes(const std::vector<CompiledNode>& nodes, size_t j) {
    if (j + 2 >= nodes.size()) return false;
    const lmx_node& rope = nodes[j].node;
    const lmx_node& sk = nodes[j + 1].node;
    const lmx_node& sv = nodes[j + 2].node;
    if (rope.op != LMX_OP_ROPE || sk.op != LMX_OP_KV_STORE || sv.op != LMX_OP_KV_STORE) return false;
    const lmx_tensor& k = *rope.src[0];
    const lmx_tensor& kr = *rope.dst;
    const lmx_tensor& v = *sv.src[0];
    const lmx_tensor& kc = *sk.dst;
    const lmx_tensor& vc = *sv.dst;
    const int64_t D = k.ne[0], n_kv = k.ne[1], n_tok = k.ne[2];
    return same_view(*sk.src[0], kr) && is_f32_rows(k) && is_f32_rows(kr) && is_f32_rows(v) &&
           k.ne[3] == 1 && kr.ne[0] == D && kr.ne[1] == n_kv && kr.ne[2] == n_tok &&
           kr.nb[1] == D * sizeof(float) && rope.iparams[0] <= D && rope.iparams[0] % 2 == 0 &&
           v.ne[0] == D * n_kv && v.ne[1] == n_tok && v.ne[2] == 1 && kc.dtype == vc.dtype &&
           kc.ne[0] == D * n_kv && vc.ne[0] == D * n_kv && is_float_storage(kc.dtype);
}

// nodes[j - 1] = rope(q) with the same positions, parameters, head size and tokens.
bool rope_q_matches(const std::vector<CompiledNode>& nodes, size_t j) {
    if (j == 0) return false;
    const lmx_node& rq = nodes[j - 1].node;
    const lmx_node& rk = nodes[j].node;
    if (rq.op != LMX_OP_ROPE || nodes[j - 1].skip || nodes[j - 1].has_rope_store) return false;
    const lmx_tensor& q = *rq.src[0];
    const lmx_tensor& qr = *rq.dst;
    const lmx_tensor& k = *rk.src[0];
    return rq.src[1]->data == rk.src[1]->data && rq.iparams[0] == rk.iparams[0] &&
           rq.fparams[0] == rk.fparams[0] && rq.fparams[1] == rk.fparams[1] && is_f32_rows(q) &&
           is_f32_rows(qr) && q.ne[0] == k.ne[0] && q.ne[2] == k.ne[2] && q.ne[3] == 1 &&
           qr.ne[1] == q.ne[1] && qr.ne[2] == q.ne[2];
}

// rope(k) + kv_store(k) + kv_store(v) as one launch, and rope(q) too where that is safe:
// fusable_in_one_kernel checks that no node overwrites what an earlier one reads (rope(k)'s
// output over q, whose last reader is rope(q), made an earlier version of this fusion fail;
// the planner's reuse delay now keeps them apart). The roped k goes to the k store in
// registers.
void fuse_rope_store(std::vector<CompiledNode>& nodes) {
    for (size_t j = 0; j + 2 < nodes.size(); ++j) {
        if (!rope_store_shapes(nodes, j)) continue;
        const lmx_node kv[3] = {nodes[j].node, nodes[j + 1].node, nodes[j + 2].node};
        const FusedHandoff roped_k{0, 1};
        if (!fusable_in_one_kernel(kv, 3, &roped_k, 1)) continue;
        CompiledNode& rope_k = nodes[j];
        rope_k.has_rope_store = true;
        rope_k.store_k = nodes[j + 1].node;
        rope_k.store_v = nodes[j + 2].node;
        nodes[j + 1].skip = nodes[j + 2].skip = true;
        if (rope_q_matches(nodes, j)) {
            const lmx_node all[4] = {nodes[j - 1].node, kv[0], kv[1], kv[2]};
            const FusedHandoff roped_k_after_q{1, 2};
            if (fusable_in_one_kernel(all, 4, &roped_k_after_q, 1)) {
                rope_k.has_rope_q = true;
                rope_k.rope_q = nodes[j - 1].node;
                nodes[j - 1].skip = true;
            }
        }
        j += 2;
    }
}

// A row-major f32 tensor of whole rows, heads back to back: [D, heads, 1].
bool contiguous_heads(const lmx_tensor& t) {
    return t.dtype == LMX_TYPE_F32 && t.nb[0] == sizeof(float) && t.nb[1] == t.ne[0] * sizeof(float) &&
           t.ne[2] == 1 && t.ne[3] == 1;
}

// Level 4: the q/k/v group's launch also does the fused rope + KV store node after it
// (launch_mmv_q8_rope_store). Nodes: lead = matmul q leading the group, then matmul k and v
// (run by the group), rope(q) and rope(k) (the latter carrying both stores), in that order,
// for one token, f16 caches, and rows in whole blocks of four.
void fuse_qkv_rope_store(std::vector<CompiledNode>& nodes) {
    for (size_t j = 4; j < nodes.size(); ++j) {
        CompiledNode& rk = nodes[j];
        CompiledNode& lead = nodes[j - 4];
        if (!rk.has_rope_store || !rk.has_rope_q || lead.path != MatmulPath::GemvQ8 || lead.run_by_group) continue;
        const MmvGroup& g = lead.group;
        const lmx_tensor& q = *rk.rope_q.src[0];
        const lmx_tensor& k = *rk.node.src[0];
        const lmx_tensor& v = *rk.store_v.src[0];
        const int64_t D = k.ne[0];
        const bool shapes =
            g.n == 3 && g.y[0] == q.data && g.y[1] == k.data && g.y[2] == v.data && g.rows[0] == q.ne[0] * q.ne[1] &&
            g.rows[1] == D * k.ne[1] && g.rows[2] == D * k.ne[1] && g.rows[0] % 4 == 0 && g.rows[1] % 4 == 0 &&
            D % 2 == 0 && q.ne[2] == 1 && contiguous_heads(q) && contiguous_heads(k) &&
            contiguous_heads(*rk.rope_q.dst) && contiguous_heads(*rk.node.dst) &&
            rk.store_k.dst->dtype == LMX_TYPE_F16 && rk.store_v.dst->dtype == LMX_TYPE_F16;
        if (!shapes) continue;
        // The kernel reads the rounded activations from the scratch, never the matmuls' x,
        // and hands q and k to the ropes in registers: the ropes' inputs, head views of the
        // products, are exactly the products' bytes (checked above).
        lmx_node all[7] = {nodes[j - 4].node, nodes[j - 3].node, nodes[j - 2].node, rk.rope_q,
                           rk.node,           rk.store_k,        rk.store_v};
        for (int i = 0; i < 3; ++i) all[i].src[1] = nullptr;
        all[3].src[0] = all[0].dst;
        all[4].src[0] = all[1].dst;
        const FusedHandoff handoffs[4] = {{0, 3}, {1, 4}, {4, 5}, {2, 6}};
        if (!fusable_in_one_kernel(all, 7, handoffs, 4)) continue;
        lead.has_rope_epilogue = true;
        lead.rope_q = rk.rope_q;
        lead.rope_k = rk.node;
        lead.store_k = rk.store_k;
        lead.store_v = rk.store_v;
        rk.skip = true;
    }
}

// A row of n f32 elements, contiguous and 16-byte aligned.
bool aligned_row(const lmx_tensor& t, int64_t n) {
    return t.dtype == LMX_TYPE_F32 && t.nb[0] == sizeof(float) && n_rows(t) == 1 && t.ne[0] == n &&
           reinterpret_cast<uintptr_t>(t.data) % 16 == 0;
}

// Level 5: a matrix-vector product whose output only the add + rms_norm right after it
// reads does that norm in its last block (launch_mmv_q8_norm): nodes i (the product, a
// group of one), i + 1 (the add, already computed by the norm), i + 2 (the norm), one row
// of a multiple of 32, the norm rounding for a Q8_0 matmul, for a Q8_K one (n a multiple of
// 256) or not at all.
void fuse_norm_tails(std::vector<CompiledNode>& nodes) {
    for (size_t i = 0; i + 2 < nodes.size(); ++i) {
        CompiledNode& mm = nodes[i];
        const CompiledNode& add = nodes[i + 1];
        CompiledNode& norm = nodes[i + 2];
        if (mm.path != MatmulPath::GemvQ8 || mm.run_by_group || mm.group.n != 1 || mm.has_rope_epilogue ||
            !add.skip || add.node.op != LMX_OP_ADD || norm.node.op != LMX_OP_RMS_NORM || !norm.has_fused_add ||
            norm.fused_add.dst != add.node.dst || norm.skip) {
            continue;
        }
        const lmx_tensor& y = *mm.node.dst;
        const int64_t n = y.ne[0];
        const bool shapes = n % 32 == 0 && aligned_row(y, n) && add.node.src[1]->data == y.data &&
                            aligned_row(*add.node.src[1], n) && aligned_row(*add.node.src[0], n) &&
                            aligned_row(*add.node.dst, n) && aligned_row(*norm.node.src[1], n) &&
                            aligned_row(*norm.node.dst, n) &&
                            (norm.round_out < 0 || norm.round_out == LMX_TYPE_Q8_0 ||
                             (norm.round_out == LMX_TYPE_Q8_K && n % 256 == 0));
        // Each warp writes its element of the sum in place or apart (launch_mmv_q8_norm).
        const lmx_tensor& s = *add.node.dst;
        const bool apart = s.data == add.node.src[0]->data ||
                           (!overlaps(byte_range(s), byte_range(*add.node.src[0])) &&
                            !overlaps(byte_range(s), byte_range(y)));
        if (!shapes || !apart) continue;
        mm.has_norm_tail = true;
        mm.norm_node = norm.node;
        mm.norm_add = add.node;
        mm.norm_round_out = norm.round_out;
        norm.skip = true;
    }
}

// Level 6: a gate/up group whose only reader is the SwiGLU right after it, rounded for the
// int8 matmul after that (ffn_down), computes the SwiGLU in its launch
// (launch_mmv_q8_swiglu). Nodes: i the group's lead (gate), i + 1 up, i + 2 the SwiGLU,
// i + 3 ffn_down, which then reads its x from the second activation scratch; one row of a
// multiple of 32, Q4_0 or Q8_0 weights.
void fuse_swiglu_epilogues(std::vector<CompiledNode>& nodes) {
    for (size_t i = 0; i + 3 < nodes.size(); ++i) {
        CompiledNode& lead = nodes[i];
        CompiledNode& act = nodes[i + 2];
        CompiledNode& down = nodes[i + 3];
        const MmvGroup& g = lead.group;
        if (lead.path != MatmulPath::GemvQ8 || lead.run_by_group || g.n != 2 || lead.has_rope_epilogue ||
            lead.has_norm_tail || !nodes[i + 1].run_by_group || act.node.op != LMX_OP_SWIGLU || act.skip ||
            act.round_out != LMX_TYPE_Q8_0 || down.path != MatmulPath::GemvQ8 || !down.reuse_rounded ||
            down.run_by_group || !mmv_q8_swiglu_supports(lead.weight->stored_dtype)) {
            continue;
        }
        // Only ffn_down may read the rounding: a matmul after it that reused it would look
        // in the first scratch.
        if (i + 4 < nodes.size() && nodes[i + 4].reuse_rounded) continue;
        const lmx_tensor& h = *act.node.dst;
        const int64_t n = h.ne[0];
        const bool shapes = n % 32 == 0 && g.rows[0] == n && g.rows[1] == n && g.y[0] == act.node.src[0]->data &&
                            g.y[1] == act.node.src[1]->data && aligned_row(*act.node.src[0], n) &&
                            aligned_row(*act.node.src[1], n) && aligned_row(h, n) && down.node.src[1]->data == h.data;
        if (!shapes) continue;
        // The kernel reads the rounded activations from the scratch, never the matmuls' x,
        // and hands gate and up to the SwiGLU in registers.
        lmx_node all[3] = {lead.node, nodes[i + 1].node, act.node};
        all[0].src[1] = all[1].src[1] = nullptr;
        const FusedHandoff handoffs[2] = {{0, 2}, {1, 2}};
        if (!fusable_in_one_kernel(all, 3, handoffs, 2)) continue;
        lead.has_swiglu_epilogue = true;
        lead.swiglu_node = act.node;
        act.skip = true;
        down.x_in_alt = true;
    }
}

// The launch-saving fusions (see CompiledNode): each pairs a node with the one right after
// it, so no other node can run between them. By `level` (Settings::fusion_level): 0 none,
// 1 the add + rms_norm fusion only, 2 also the roundings for the next matmul, 3 (the
// default) also the rope + KV store fusion and the one-query attention's rounding for
// attn_output (H200, 2026-11-28: tg128 540 t/s against 501 at 2), 4 (opt-in: written after
// that day's last GPU run) also the rope + KV store work in the q/k/v launch, 5 (opt-in, the
// same) also the add + rms_norm after attn_output and ffn_down in those products' launches,
// 6 (opt-in, written on 2026-11-28 without a GPU) also the SwiGLU and its rounding in the
// gate/up launch.
void fuse_nodes(std::vector<CompiledNode>& nodes, int level) {
    if (level <= 0) return;
    for (size_t i = 0; i + 1 < nodes.size(); ++i) {
        CompiledNode& add = nodes[i];
        CompiledNode& norm = nodes[i + 1];
        if (add.node.op == LMX_OP_ADD && norm.node.op == LMX_OP_RMS_NORM && !add.skip &&
            same_rows(*add.node.dst, *norm.node.src[0])) {
            add.skip = true;
            norm.has_fused_add = true;
            norm.fused_add = add.node;
        }
    }
    if (level == 1) return;
    for (size_t i = 0; i + 1 < nodes.size(); ++i) {
        CompiledNode& p = nodes[i];
        CompiledNode& m = nodes[i + 1];
        if (m.node.op != LMX_OP_MATMUL || m.path != MatmulPath::GemvQ8 || m.reuse_rounded) continue;
        const lmx_tensor& y = *p.node.dst;
        const lmx_tensor& x = *m.node.src[1];
        const bool row = x.data == y.data && n_rows(y) == 1 && x.ne[0] == y.ne[0] && x.ne[1] == 1;
        const bool norm = p.node.op == LMX_OP_RMS_NORM;
        const bool swiglu = p.node.op == LMX_OP_SWIGLU && ((m.round_as == LMX_TYPE_Q8_0 && y.ne[0] % 32 == 0) ||
                                                           (m.round_as == LMX_TYPE_Q8_K && y.ne[0] % 256 == 0));
        const bool attention = level >= 3 && p.node.op == LMX_OP_ATTENTION && attention_can_round(p.node, m.round_as);
        if (row && (norm || swiglu || attention)) {
            p.round_out = m.round_as;
            m.reuse_rounded = true;
        }
    }
    if (level < 3) return;
    fuse_rope_store(nodes);
    if (level < 4) return;
    fuse_qkv_rope_store(nodes);
    if (level < 5) return;
    fuse_norm_tails(nodes);
    if (level < 6) return;
    fuse_swiglu_epilogues(nodes);
}

// Marks the attention nodes that can take the split kernels, in caches long enough to reach
// split_attention_from, and sizes their scratch (all of the program's attention nodes share
// it: they run one after another).
lmx_status plan_split_attention(CudaBackend& b, CudaProgram& program, std::string* why) {
    AttentionSplitSizes most{0, 0, 0, 0};
    for (CompiledNode& c : program.nodes) {
        if (c.node.op != LMX_OP_ATTENTION || !attention_split_fits(c.node)) continue;
        if (c.node.src[1]->ne[1] <= b.settings.split_attention_from) continue;  // n_past stays below it
        c.split_attention = true;
        program.has_split_attention = true;
        const AttentionSplitSizes s = attention_split_sizes(c.node);
        most = {std::max(most.scores, s.scores), std::max(most.stats, s.stats), std::max(most.partial, s.partial),
                std::max(most.tickets, s.tickets)};
    }
    if (!program.has_split_attention) return LMX_OK;
    lmx_status s = ensure_scratch(b, b.split_scores, most.scores, "split attention scores", why);
    if (s == LMX_OK) s = ensure_scratch(b, b.split_stats, most.stats, "split attention block sums", why);
    if (s == LMX_OK) s = ensure_scratch(b, b.split_partial, most.partial, "split attention partial outputs", why);
    if (s == LMX_OK) s = ensure_scratch(b, b.split_tickets, most.tickets, "split attention tickets", why);
    return s;
}

AttentionSplitScratch split_scratch(const CudaBackend& b) {
    AttentionSplitScratch s;
    s.scores = static_cast<float*>(b.split_scores.ptr);
    s.stats = static_cast<float2*>(b.split_stats.ptr);
    s.partial = static_cast<float*>(b.split_partial.ptr);
    s.tickets = static_cast<unsigned*>(b.split_tickets.ptr);
    return s;
}

// The second activation scratch and the tickets of level 6, sized for the program's
// SwiGLU epilogues.
lmx_status size_fusion_scratch(CudaBackend& b, const std::vector<CompiledNode>& nodes, std::string* why) {
    int64_t n = 0;
    for (const CompiledNode& c : nodes) {
        if (c.has_swiglu_epilogue) n = std::max(n, c.swiglu_node.dst->ne[0]);
    }
    if (n == 0) return LMX_OK;
    const auto bytes = static_cast<size_t>(n);
    lmx_status s = ensure_scratch(b, b.act_alt, bytes, "rounded SwiGLU activations", why);
    if (s == LMX_OK) s = ensure_scratch(b, b.act_scales_alt, bytes / 32 * sizeof(float), "SwiGLU scales", why);
    if (s == LMX_OK) s = ensure_scratch(b, b.swiglu_tickets, bytes / 32 * sizeof(unsigned), "SwiGLU tickets", why);
    return s;
}

}  // namespace

bool supports(const CudaBackend& b, const lmx_node& node) {
    if (!supports_node_ref(node)) return false;  // not a valid node of the op set
    for (const lmx_tensor* t : node.src) {
        if (!fits_int(t)) return false;
    }
    if (!fits_int(node.dst)) return false;
    switch (node.op) {
        case LMX_OP_KV_STORE:
            return is_cache_type(node.dst->dtype);
        case LMX_OP_RMS_NORM:
        case LMX_OP_ROPE:
        case LMX_OP_SWIGLU:
        case LMX_OP_ADD:
        case LMX_OP_COPY:
            return true;
        case LMX_OP_GET_ROWS: {
            // Rows are copied exactly: a weight kept as f16 in place of its own quantized
            // type (cuda_weights.cpp) would come back rounded, so the host reads those.
            const lmx_tensor& table = *node.src[0];
            const int32_t t = table_type(b, table);
            const bool exact = table.role != LMX_ROLE_WEIGHT || keeps_blocks(t, table.dtype) ||
                               table.dtype == LMX_TYPE_BF16;
            return exact && (is_float_storage(t) || holds_blocks(t));
        }
        case LMX_OP_MATMUL: {
            const lmx_tensor& w = *node.src[0];
            const lmx_tensor& x = *node.src[1];
            return w.role == LMX_ROLE_WEIGHT && stored_type(w.dtype, b.settings.split_blocks) >= 0 &&
                   x.ne[2] == 1 && x.ne[3] == 1 && node.dst->ne[2] == 1 && node.dst->ne[3] == 1;
        }
        case LMX_OP_ATTENTION: {
            const lmx_tensor& q = *node.src[0];
            const lmx_tensor& k = *node.src[1];
            return is_cache_type(k.dtype) && k.dtype == node.src[2]->dtype && q.ne[0] <= kAttentionThreads &&
                   attention_shared_bytes(q.ne[0], k.ne[1]) <= b.max_shared_optin;
        }
        default:
            return false;
    }
}

lmx_status compile(CudaBackend& b, const lmx_node* nodes, int32_t n_nodes, CudaProgram& program,
                   std::string* why) {
    program.nodes.reserve(static_cast<size_t>(n_nodes));
    for (int32_t i = 0; i < n_nodes; ++i) {
        CompiledNode c;
        c.node = nodes[i];
        if (!supports(b, c.node)) {
            *why = node_label(c.node) + "not supported by the cuda backend (supports_node said no)";
            return LMX_ERR_UNSUPPORTED;
        }
        for (const lmx_tensor* t : c.node.src) {
            if (t && !t->data) {
                *why = node_label(c.node) + "tensor " + (t->name ? t->name : "") + " has no memory";
                return LMX_ERR_INVALID;
            }
        }
        if (c.node.op == LMX_OP_MATMUL || c.node.op == LMX_OP_GET_ROWS) {
            const lmx_tensor& w = *c.node.src[0];
            c.weight = static_cast<const DeviceWeight*>(w.extra);
            if (w.role == LMX_ROLE_WEIGHT && !c.weight) {
                *why = node_label(c.node) + "weight " + (w.name ? w.name : "") +
                       " was not prepared by the cuda backend";
                return LMX_ERR_INVALID;
            }
        }
        if (c.node.op == LMX_OP_MATMUL) {
            const lmx_status s = plan_matmul(b, c, why);
            if (s != LMX_OK) {
                *why = node_label(c.node) + *why;
                return s;
            }
        }
        program.nodes.push_back(c);
    }
    share_matmul_inputs(program.nodes);
    fuse_nodes(program.nodes, b.settings.fusion_level);
    if (const lmx_status s = size_fusion_scratch(b, program.nodes, why); s != LMX_OK) return s;
    if (const lmx_status s = plan_split_attention(b, program, why); s != LMX_OK) return s;
    program.graphable = std::all_of(program.nodes.begin(), program.nodes.end(), [](const CompiledNode& c) {
        return c.node.op != LMX_OP_MATMUL || c.path == MatmulPath::Gemv || c.path == MatmulPath::GemvQ8;
    });
    return LMX_OK;
}

namespace {

// Queues every node of the program on the stream (checked launches), the attention nodes
// split along the cache in the kLongContext variant; n_past has been checked and stored in
// b.n_past_dev by execute.
lmx_status launch_nodes(CudaBackend& b, const CudaProgram& program, int variant, bool profiled, std::string* why) {
    for (size_t i = 0; i < program.nodes.size(); ++i) {
        const CompiledNode& c = program.nodes[i];
        const lmx_node& node = c.node;
        if (profiled) b.profile.before(b.stream, i);
        if (c.skip) continue;  // computed by the next node's kernel
        lmx_status s = LMX_OK;
        switch (node.op) {
            case LMX_OP_GET_ROWS:
                launch_get_rows(node, c.weight ? c.weight->stored_dtype : node.src[0]->dtype,
                                c.weight ? c.weight->row_bytes : node.src[0]->nb[1], b.stream);
                break;
            case LMX_OP_RMS_NORM:
                launch_rms_norm(node, c.has_fused_add ? &c.fused_add : nullptr, round_target(b, c), b.stream);
                break;
            case LMX_OP_MATMUL: s = run_matmul(b, c, why); break;
            case LMX_OP_ROPE:
                if (c.has_rope_store) {
                    launch_rope_store(c.has_rope_q ? &c.rope_q : nullptr, node, c.store_k, c.store_v, b.n_past_dev,
                                      b.stream);
                } else {
                    launch_rope(node, b.stream);
                }
                break;
            case LMX_OP_KV_STORE: launch_kv_store(node, b.n_past_dev, b.stream); break;
            case LMX_OP_ATTENTION:
                if (variant == CudaProgram::kLongContext && c.split_attention) {
                    launch_attention_split(node, b.n_past_dev, round_target(b, c), split_scratch(b), b.stream);
                } else {
                    launch_attention(node, b.n_past_dev, round_target(b, c), b.stream);
                }
                break;
            case LMX_OP_SWIGLU: launch_swiglu(node, round_target(b, c), b.stream); break;
            case LMX_OP_ADD: launch_add(node, b.stream); break;
            case LMX_OP_COPY: launch_copy(node, b.stream); break;
            default:
                *why = "op not compiled";
                s = LMX_ERR_INTERNAL;
                break;
        }
        if (s == LMX_OK) {
            const cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) {
                *why = "kernel launch: " + error_text(e);
                s = LMX_ERR_DEVICE;
            }
        }
        if (s != LMX_OK) {
            *why = node_label(node) + *why;
            return s;
        }
    }
    if (profiled) b.profile.finish(b.stream, program.nodes);
    return LMX_OK;
}

}  // namespace

lmx_status execute(CudaBackend& b, const CudaProgram& program, const lmx_exec_args& args,
                   std::string* why) {
    for (const CompiledNode& c : program.nodes) {
        if (c.node.op != LMX_OP_KV_STORE && c.node.op != LMX_OP_ATTENTION) continue;
        if (const lmx_status s = check_n_past(c.node, args.n_past, why); s != LMX_OK) {
            *why = node_label(c.node) + *why;
            return s;
        }
    }
    launch_set_n_past(b.n_past_dev, args.n_past, b.stream);
    if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) {
        *why = "kernel launch (n_past): " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    const int variant = program.has_split_attention && args.n_past >= b.settings.split_attention_from
                            ? CudaProgram::kLongContext
                            : CudaProgram::kShortContext;
    const bool profiled = b.settings.profile && program.executions > 0;
    ++program.executions;
    if (!profiled) {
        bool used = false;
        const lmx_status s = run_graph(
            b, program, variant, [&](std::string* w) { return launch_nodes(b, program, variant, false, w); },
            &used, why);
        if (s != LMX_OK || used) return s;
    }
    return launch_nodes(b, program, variant, profiled, why);
}

}  // namespace llamux::cuda
