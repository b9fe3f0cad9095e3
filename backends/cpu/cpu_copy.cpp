// The ops that move rows between storage types: get_rows (table rows by token id), kv_store
// (new K/V rows into the cache) and copy. Rows split across threads when there are enough;
// conversions through cpu_convert (F16C where present, same values as the reference).
#include "cpu_backend.hpp"
#include "cpu_convert.hpp"
#include "cpu_tensor.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::cpu {
namespace {

constexpr int64_t kMinParallelElements = 32 * 1024;

size_t elem_size(int32_t dtype) { return dtype == LMX_TYPE_F32 ? 4 : 2; }

}  // namespace

// ---- get_rows: dst[n_embd, n_tok] = table rows ids[n_tok] ---------------------------------

bool plan_get_rows(const lmx_node& node, bool* parallel) {
    const int64_t n_tok = node.src[1]->ne[0];
    *parallel = n_tok > 1 && n_tok * node.src[0]->ne[0] >= kMinParallelElements;
    return true;
}

lmx_status exec_get_rows(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_tensor& table = *step.node->src[0];
    const lmx_tensor& dst = *step.node->dst;
    const int64_t n_embd = table.ne[0], n_vocab = table.ne[1], n_tok = step.node->src[1]->ne[0];
    const auto* ids = static_cast<const int32_t*>(step.node->src[1]->data);  // [n_tok]
    for (int64_t t = 0; t < n_tok; ++t) {
        if (ids[t] < 0 || ids[t] >= n_vocab) return LMX_ERR_INVALID;
    }
    const bool plain = is_float_type(table.dtype);
    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_tok, 1);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
        const auto [t0, t1] = chunk_range(n_tok, chunk, n_chunks);
        for (int64_t t = t0; t < t1; ++t) {
            const std::byte* src = row_ptr(table, ids[t]);
            float* out = f32_row(dst, t);
            if (plain) {
                convert_row(table.dtype, src, LMX_TYPE_F32, out, n_embd, ctx.isa);
            } else {
                dequantize_row_ref(static_cast<DType>(table.dtype), src, out, n_embd);
            }
        }
    });
    return LMX_OK;
}

// ---- kv_store: cache rows n_past .. n_past+n_tok-1 = src rows -----------------------------
// src is [n_embd_kv, n_tok], or [head_dim, n_head_kv, n_tok] with contiguous heads.

bool plan_kv_store(const lmx_node& node, bool* parallel) {
    *parallel = n_elements(*node.src[0]) >= kMinParallelElements;
    return true;
}

lmx_status exec_kv_store(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_tensor& src = *step.node->src[0];
    const lmx_tensor& cache = *step.node->dst;
    const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
    const int64_t n_tok = three_d ? src.ne[2] : src.ne[1];
    const int32_t n_past = ctx.args.n_past;
    if (n_past < 0 || n_past + n_tok > cache.ne[1]) return LMX_ERR_INVALID;
    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_tok, 1);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
        const auto [t0, t1] = chunk_range(n_tok, chunk, n_chunks);
        for (int64_t t = t0; t < t1; ++t) {
            const std::byte* row = three_d ? row_ptr(src, 0, t) : row_ptr(src, t);
            if (info(static_cast<DType>(cache.dtype)).quantized) {  // as llama.cpp's ggml_cpy stores them
                quantize_activation_row_ref(static_cast<DType>(cache.dtype), reinterpret_cast<const float*>(row),
                                            row_ptr(cache, n_past + t), cache.ne[0]);
            } else {
                convert_row(LMX_TYPE_F32, row, cache.dtype, row_ptr(cache, n_past + t), cache.ne[0], ctx.isa);
            }
        }
    });
    return LMX_OK;
}

// ---- copy: dst = src converted; same shape row by row, else a contiguous reshape -----------

bool plan_copy(const lmx_node& node, bool* parallel) {
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    if (overlaps(src, dst)) return false;  // the reference stages through a copy
    *parallel = n_elements(src) >= kMinParallelElements;
    return true;
}

lmx_status exec_copy(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_tensor& src = *step.node->src[0];
    const lmx_tensor& dst = *step.node->dst;
    bool same_shape = true;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) same_shape = same_shape && src.ne[k] == dst.ne[k];
    if (!same_shape) {  // contiguous reshape: one long row
        const auto* s = static_cast<const std::byte*>(src.data);
        auto* d = static_cast<std::byte*>(dst.data);
        const int64_t n_chunks = ctx.chunk_count(step.parallel, n_elements(src), 4096);
        ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
            const auto [i0, i1] = chunk_range(n_elements(src), chunk, n_chunks, 64);
            convert_row(src.dtype, s + static_cast<size_t>(i0) * elem_size(src.dtype), dst.dtype,
                        d + static_cast<size_t>(i0) * elem_size(dst.dtype), i1 - i0, ctx.isa);
        });
        return LMX_OK;
    }
    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_rows(src), 1);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
        const auto [r0, r1] = chunk_range(n_rows(src), chunk, n_chunks);
        for (int64_t r = r0; r < r1; ++r) {
            convert_row(src.dtype, flat_row_ptr(src, r), dst.dtype, flat_row_ptr(dst, r),
                        src.ne[0], ctx.isa);
        }
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
