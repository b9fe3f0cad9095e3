// Reference ops of the attention block: rope, kv_store and attention.
// Numerics follow llama.cpp's CPU backend: rope angles built as ggml_rope_cache_init does,
// q rounded to the cache's half type before the q.k dot (ggml converts src1 of a mul_mat to
// vec_dot_type), float softmax with the sum in double. Quantized caches (the 32-value block
// types) follow llama.cpp's storing and reading of them: rows stored as its ggml_cpy does
// (quantize_activation_row_ref: its x86 quantizer for Q8_0, the reference quantizers for
// the others); with a quantized K, q is quantized to Q8_0 (the vec_dot_type of every block
// type here) before the dot; a quantized V is read by flash attention, the only path
// llama.cpp has for it, which dequantizes its rows and keeps the probabilities in float.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "llamux/llama_graph.hpp"
#include "llamux/quant_ref.hpp"
#include "ops_ref_common.hpp"

namespace llamux::ref {
namespace {

constexpr std::initializer_list<DType> kCacheTypes = kKvCacheTypes;

bool is_block_type(int32_t dtype) { return info(static_cast<DType>(dtype)).quantized; }

// Elements [i0, i0 + n) of a cache row as float; for a block type i0 and n are whole blocks.
void cache_values(int32_t dtype, const std::byte* row, int64_t i0, int64_t n, float* out) {
    if (is_block_type(dtype)) {
        const DTypeInfo& ti = info(static_cast<DType>(dtype));
        dequantize_row_ref(static_cast<DType>(dtype), row + i0 / ti.block_size * ti.type_size, out, n);
        return;
    }
    const size_t elem = dtype == LMX_TYPE_F32 ? sizeof(float) : sizeof(f16_bits);
    load_row_f32(dtype, row + static_cast<size_t>(i0) * elem, out, n);
}

// A quantized cache's rows hold whole blocks per head.
lmx_status check_block_heads(const lmx_tensor& cache, int64_t head_dim, const char* what, std::string* why) {
    if (!is_block_type(cache.dtype)) return LMX_OK;
    const DTypeInfo& ti = info(static_cast<DType>(cache.dtype));
    if (head_dim % ti.block_size != 0) {
        *why = tensor_label(&cache, what) + ": a " + std::string(ti.name) +
               " cache needs a head size that is a multiple of " + std::to_string(ti.block_size) + ", got " +
               std::to_string(head_dim);
        return LMX_ERR_UNSUPPORTED;
    }
    return LMX_OK;
}

// n_past from the exec args must leave room for n_tok new rows in a cache of n_ctx rows.
lmx_status check_n_past(int32_t n_past, int64_t n_tok, const lmx_tensor& cache,
                        const char* what, std::string* why) {
    const int64_t n_ctx = cache.ne[1];
    if (n_past < 0 || n_past + n_tok > n_ctx) {
        *why = tensor_label(&cache, what) + ": n_past " + std::to_string(n_past) + " + " +
               std::to_string(n_tok) + " new tokens expected within the cache's " +
               std::to_string(n_ctx) + " rows, got " + std::to_string(n_past + n_tok);
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

}  // namespace

// ---- rope: dst[head_dim, n_head, n_tok] = x rotated pairwise by position -------------------
// For token t at p = positions[t] and pair i < n_rot/2 of every head:
//   theta_i = freq_scale * (p * theta_scale^i), theta_scale = base^(-2/n_rot)
//   (x[2i], x[2i+1]) -> (x0 cos - x1 sin, x0 sin + x1 cos); dims >= n_rot are copied.

lmx_status check_rope(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& pos = *node.src[1];
    LMX_REF_TRY(check_dtype(x, "src[0]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(pos, "src[1]", {DType::I32}, why));
    LMX_REF_TRY(check_dtype(*node.dst, "dst", {DType::F32}, why));
    LMX_REF_TRY(check_dim(x, "src[0]", 3, 1, "unused", why));
    LMX_REF_TRY(check_dim(pos, "src[1]", 0, x.ne[2], "n_tok, ne[2] of x", why));
    for (int k = 1; k < LMX_MAX_DIMS; ++k) LMX_REF_TRY(check_dim(pos, "src[1]", k, 1, "unused", why));
    LMX_REF_TRY(check_same_shape(x, "src[0]", *node.dst, "dst", why));
    const int32_t n_rot = node.iparams[0];
    if (n_rot <= 0 || n_rot % 2 != 0 || n_rot > x.ne[0]) {
        *why = "iparams[0] (n_rot): expected an even number in 2.." + std::to_string(x.ne[0]) +
               " (head_dim), got " + std::to_string(n_rot);
        return LMX_ERR_INVALID;
    }
    const float base = node.fparams[0], scale = node.fparams[1];
    if (!(base > 0.0f) || !std::isfinite(base) || !std::isfinite(scale)) {
        *why = "fparams (freq_base, freq_scale): expected base > 0 and finite values, got " +
               std::to_string(base) + ", " + std::to_string(scale);
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

lmx_status run_rope(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    const auto* positions = static_cast<const int32_t*>(node.src[1]->data);  // [n_tok]
    const int64_t head_dim = x.ne[0], n_head = x.ne[1], n_tok = x.ne[2];
    const int32_t n_rot = node.iparams[0];
    const float freq_base = node.fparams[0], freq_scale = node.fparams[1];
    const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));

    std::vector<float> cos_sin(static_cast<size_t>(n_rot));  // [cos, sin] per pair
    for (int64_t t = 0; t < n_tok; ++t) {
        // ggml_rope_cache_init: theta iterated in float from p, scaled when used. Rows at the
        // position of the row before (a context shift turns every key by one delta) reuse it.
        float theta_extrap = static_cast<float>(positions[t]);
        for (int32_t i = 0; i < n_rot && (t == 0 || positions[t] != positions[t - 1]); i += 2) {
            const float theta = freq_scale * theta_extrap;
            cos_sin[static_cast<size_t>(i)] = std::cos(theta);
            cos_sin[static_cast<size_t>(i) + 1] = std::sin(theta);
            theta_extrap *= theta_scale;
        }
        for (int64_t h = 0; h < n_head; ++h) {
            const auto* src = reinterpret_cast<const float*>(row_ptr(x, h, t));  // [head_dim]
            auto* out = reinterpret_cast<float*>(row_ptr(dst, h, t));
            for (int32_t i = 0; i < n_rot; i += 2) {
                const float c = cos_sin[static_cast<size_t>(i)];
                const float s = cos_sin[static_cast<size_t>(i) + 1];
                const float x0 = src[i], x1 = src[i + 1];
                out[i] = x0 * c - x1 * s;
                out[i + 1] = x0 * s + x1 * c;
            }
            for (int64_t i = n_rot; i < head_dim; ++i) out[i] = src[i];
        }
    }
    return LMX_OK;
}

// ---- kv_store: cache[n_embd_kv, n_ctx] rows n_past.. = src[n_embd_kv, n_tok] ---------------

lmx_status check_kv_store(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& cache = *node.dst;
    LMX_REF_TRY(check_dtype(src, "src[0]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(cache, "dst", kCacheTypes, why));
    // src is [n_embd_kv, n_tok], or a [head_dim, n_head_kv, n_tok] view (the roped k) whose
    // heads lie back to back, so that ne[0]*ne[1] elements form one cache row.
    const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
    if (three_d) {
        LMX_REF_TRY(check_dim(src, "src[0]", 3, 1, "unused", why));
        if (src.ne[0] * src.ne[1] != cache.ne[0]) {
            *why = tensor_label(&src, "src[0]") + ": expected rows of " +
                   std::to_string(cache.ne[0]) + " elements (n_embd_kv of " +
                   tensor_label(&cache, "dst") + "), got " + shape_str(src);
            return LMX_ERR_INVALID;
        }
        if (src.nb[1] != src.ne[0] * sizeof(float) && src.ne[1] > 1) {
            *why = tensor_label(&src, "src[0]") + ": a 3-D source must have contiguous heads";
            return LMX_ERR_UNSUPPORTED;
        }
    } else {
        LMX_REF_TRY(check_dim(src, "src[0]", 2, 1, "unused", why));
        LMX_REF_TRY(check_dim(src, "src[0]", 3, 1, "unused", why));
    }
    LMX_REF_TRY(check_dim(cache, "dst", 2, 1, "unused", why));
    LMX_REF_TRY(check_dim(cache, "dst", 3, 1, "unused", why));
    const int64_t n_tok = three_d ? src.ne[2] : src.ne[1];
    if (n_tok > cache.ne[1]) {
        *why = tensor_label(&src, "src[0]") + ": expected at most " +
               std::to_string(cache.ne[1]) + " tokens (cache rows), got " + std::to_string(n_tok);
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

lmx_status run_kv_store(const lmx_node& node, const lmx_exec_args& args, std::string* why) {
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& cache = *node.dst;
    const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
    const int64_t n_tok = three_d ? src.ne[2] : src.ne[1];
    LMX_REF_TRY(check_n_past(args.n_past, n_tok, cache, "dst", why));
    for (int64_t t = 0; t < n_tok; ++t) {
        const auto* row = reinterpret_cast<const float*>(three_d ? row_ptr(src, 0, t)
                                                                 : row_ptr(src, t));
        if (is_block_type(cache.dtype)) {
            quantize_activation_row_ref(static_cast<DType>(cache.dtype), row, row_ptr(cache, args.n_past + t),
                                        cache.ne[0]);
        } else {
            store_row_f32(cache.dtype, row, row_ptr(cache, args.n_past + t), cache.ne[0]);
        }
    }
    return LMX_OK;
}

// ---- attention: dst[head_dim*n_head, n_tok] ------------------------------------------------
// q[head_dim, n_head, n_tok]; k, v caches [head_dim*n_head_kv, n_ctx]. Query t sits at
// position n_past + t and attends to cache rows j = 0 .. n_past + t; head h reads kv head
// h / (n_head / n_head_kv):
//   s_j = (q . k_j) * scale, p = softmax(s), out = sum_j p_j v_j

lmx_status check_attention(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.src[2], "src[2]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const lmx_tensor& dst = *node.dst;
    LMX_REF_TRY(check_dtype(q, "src[0]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(k, "src[1]", kCacheTypes, why));
    LMX_REF_TRY(check_dtype(v, "src[2]", kCacheTypes, why));
    LMX_REF_TRY(check_dtype(dst, "dst", {DType::F32}, why));
    const int32_t n_head = node.iparams[0], n_head_kv = node.iparams[1];
    if (n_head <= 0 || n_head_kv <= 0 || n_head % n_head_kv != 0) {
        *why = "iparams (n_head, n_head_kv): expected positive with n_head a multiple of "
               "n_head_kv, got " + std::to_string(n_head) + ", " + std::to_string(n_head_kv);
        return LMX_ERR_INVALID;
    }
    const int64_t head_dim = q.ne[0], n_tok = q.ne[2];
    LMX_REF_TRY(check_dim(q, "src[0]", 1, n_head, "n_head", why));
    LMX_REF_TRY(check_dim(q, "src[0]", 3, 1, "unused", why));
    LMX_REF_TRY(check_dim(k, "src[1]", 0, head_dim * n_head_kv, "head_dim*n_head_kv", why));
    LMX_REF_TRY(check_dim(k, "src[1]", 2, 1, "unused", why));
    LMX_REF_TRY(check_dim(k, "src[1]", 3, 1, "unused", why));
    LMX_REF_TRY(check_same_shape(k, "src[1]", v, "src[2]", why));
    LMX_REF_TRY(check_block_heads(k, head_dim, "src[1]", why));
    LMX_REF_TRY(check_block_heads(v, head_dim, "src[2]", why));
    if (n_tok > k.ne[1]) {
        *why = tensor_label(&q, "src[0]") + ": expected at most " + std::to_string(k.ne[1]) +
               " tokens (cache rows), got " + std::to_string(n_tok);
        return LMX_ERR_INVALID;
    }
    LMX_REF_TRY(check_dim(dst, "dst", 0, head_dim * n_head, "head_dim*n_head", why));
    LMX_REF_TRY(check_dim(dst, "dst", 1, n_tok, "n_tok", why));
    LMX_REF_TRY(check_dim(dst, "dst", 2, 1, "unused", why));
    LMX_REF_TRY(check_dim(dst, "dst", 3, 1, "unused", why));
    if (!std::isfinite(node.fparams[0])) {
        *why = "fparams[0] (scale): expected a finite value, got " + std::to_string(node.fparams[0]);
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

lmx_status run_attention(const lmx_node& node, const lmx_exec_args& args, std::string* why) {
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const lmx_tensor& dst = *node.dst;
    const int64_t head_dim = q.ne[0], n_head = q.ne[1], n_tok = q.ne[2];
    const int64_t group = n_head / node.iparams[1];  // query heads per kv head
    const float scale = node.fparams[0];
    const int32_t n_past = args.n_past;
    LMX_REF_TRY(check_n_past(n_past, n_tok, k, "src[1]", why));

    std::vector<float> qh(static_cast<size_t>(head_dim));          // q of one head
    std::vector<float> row(static_cast<size_t>(head_dim));         // a head's part of a cache row
    std::vector<float> p(static_cast<size_t>(n_past + n_tok));     // scores, then weights
    std::vector<double> acc(static_cast<size_t>(head_dim));
    std::vector<BlockQ8_0> q8(static_cast<size_t>(head_dim / kQK8_0));
    for (int64_t t = 0; t < n_tok; ++t) {
        const int64_t n_kv = n_past + t + 1;  // causal: rows 0 .. n_past + t
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t kv_off = (h / group) * head_dim;  // element offset in a cache row
            const auto* qs = reinterpret_cast<const float*>(row_ptr(q, h, t));
            // ggml converts q to the cache's vec_dot_type (f16/bf16/q8_0) before the dot.
            const bool k_blocks = is_block_type(k.dtype);
            if (k_blocks) {
                quantize_activation_row_ref(DType::Q8_0, qs, q8.data(), head_dim);
                dequantize_row_ref(DType::Q8_0, q8.data(), qh.data(), head_dim);
            }
            for (int64_t d = 0; d < head_dim && !k_blocks; ++d) {
                float val = qs[d];
                if (k.dtype == LMX_TYPE_F16) val = f16_to_f32(f32_to_f16(val));
                if (k.dtype == LMX_TYPE_BF16) val = bf16_to_f32(f32_to_bf16(val));
                qh[static_cast<size_t>(d)] = val;
            }
            float max_s = -std::numeric_limits<float>::infinity();
            for (int64_t j = 0; j < n_kv; ++j) {
                cache_values(k.dtype, row_ptr(k, j), kv_off, head_dim, row.data());
                double dot = 0.0;
                for (int64_t d = 0; d < head_dim; ++d) {
                    dot += static_cast<double>(qh[static_cast<size_t>(d)]) *
                           static_cast<double>(row[static_cast<size_t>(d)]);
                }
                const float s = static_cast<float>(dot) * scale;
                p[static_cast<size_t>(j)] = s;
                if (s > max_s) max_s = s;
            }
            double sum = 0.0;
            for (int64_t j = 0; j < n_kv; ++j) {
                const float e = std::exp(p[static_cast<size_t>(j)] - max_s);
                p[static_cast<size_t>(j)] = e;
                sum += static_cast<double>(e);
            }
            const auto inv_sum = static_cast<float>(1.0 / sum);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t j = 0; j < n_kv; ++j) {
                cache_values(v.dtype, row_ptr(v, j), kv_off, head_dim, row.data());
                // ggml multiplies V by the probabilities stored as V's vec_dot_type: with an
                // F16/BF16 cache they are rounded to that type first.
                float pf = p[static_cast<size_t>(j)] * inv_sum;
                if (v.dtype == LMX_TYPE_F16) pf = f16_to_f32(f32_to_f16(pf));
                if (v.dtype == LMX_TYPE_BF16) pf = bf16_to_f32(f32_to_bf16(pf));
                const double pj = static_cast<double>(pf);
                for (int64_t d = 0; d < head_dim; ++d) {
                    acc[static_cast<size_t>(d)] += pj * static_cast<double>(row[static_cast<size_t>(d)]);
                }
            }
            float* out = reinterpret_cast<float*>(row_ptr(dst, t)) + h * head_dim;
            for (int64_t d = 0; d < head_dim; ++d) out[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
        }
    }
    return LMX_OK;
}

}  // namespace llamux::ref
