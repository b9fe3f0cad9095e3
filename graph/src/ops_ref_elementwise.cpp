// Reference ops that work row by row: get_rows, rms_norm, swiglu, add, copy.
// Numerics follow llama.cpp's CPU backend (ggml-cpu ops.cpp / vec.h).
#include <cmath>
#include <vector>

#include "llamux/quant_ref.hpp"
#include "ops_ref_common.hpp"

namespace llamux::ref {
namespace {

// Types dequantize_row_ref reads: the half floats and every quantized type.
constexpr std::initializer_list<DType> kTableTypes = {
    DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
    DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K,
    DType::Q8_K};
constexpr std::initializer_list<DType> kFloatTypes = {DType::F32, DType::F16, DType::BF16};

// The common shape of the F32 binary ops: a, b and dst all F32 of one shape.
lmx_status check_f32_binary(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    LMX_REF_TRY(check_dtype(*node.src[0], "src[0]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(*node.src[1], "src[1]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(*node.dst, "dst", {DType::F32}, why));
    LMX_REF_TRY(check_same_shape(*node.src[0], "src[0]", *node.src[1], "src[1]", why));
    return check_same_shape(*node.src[0], "src[0]", *node.dst, "dst", why);
}

}  // namespace

// ---- get_rows: dst[n_embd, n_tok] = table[n_embd, n_vocab] rows ids[n_tok] ----------------

lmx_status check_get_rows(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& table = *node.src[0];
    const lmx_tensor& ids = *node.src[1];
    const lmx_tensor& dst = *node.dst;
    LMX_REF_TRY(check_dtype(table, "src[0]", kTableTypes, why));
    LMX_REF_TRY(check_dtype(ids, "src[1]", {DType::I32}, why));
    LMX_REF_TRY(check_dtype(dst, "dst", {DType::F32}, why));
    LMX_REF_TRY(check_dim(table, "src[0]", 2, 1, "unused", why));
    LMX_REF_TRY(check_dim(table, "src[0]", 3, 1, "unused", why));
    for (int k = 1; k < LMX_MAX_DIMS; ++k) LMX_REF_TRY(check_dim(ids, "src[1]", k, 1, "unused", why));
    LMX_REF_TRY(check_dim(dst, "dst", 0, table.ne[0], "n_embd of the table", why));
    LMX_REF_TRY(check_dim(dst, "dst", 1, ids.ne[0], "number of ids", why));
    LMX_REF_TRY(check_dim(dst, "dst", 2, 1, "unused", why));
    return check_dim(dst, "dst", 3, 1, "unused", why);
}

lmx_status run_get_rows(const lmx_node& node, std::string* why) {
    const lmx_tensor& table = *node.src[0];
    const lmx_tensor& ids_t = *node.src[1];
    const lmx_tensor& dst = *node.dst;
    const int64_t n_embd = table.ne[0], n_vocab = table.ne[1], n_tok = ids_t.ne[0];
    const auto* ids = static_cast<const int32_t*>(ids_t.data);  // [n_tok]
    for (int64_t t = 0; t < n_tok; ++t) {
        const int32_t id = ids[t];
        if (id < 0 || id >= n_vocab) {
            *why = tensor_label(&ids_t, "src[1]") + ": id " + std::to_string(id) +
                   " at position " + std::to_string(t) + " is outside 0.." +
                   std::to_string(n_vocab - 1) + " (" + tensor_label(&table, "src[0]") +
                   " has " + std::to_string(n_vocab) + " rows)";
            return LMX_ERR_INVALID;
        }
        load_row_f32(table.dtype, row_ptr(table, id), f32_row(dst, t), n_embd);
    }
    return LMX_OK;
}

// ---- rms_norm: dst[n, rows] = x * (1 / sqrt(mean(x^2) + eps)) * w[n] ----------------------

lmx_status check_rms_norm(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& w = *node.src[1];
    LMX_REF_TRY(check_dtype(x, "src[0]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(w, "src[1]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(*node.dst, "dst", {DType::F32}, why));
    LMX_REF_TRY(check_dim(w, "src[1]", 0, x.ne[0], "row length of x", why));
    for (int k = 1; k < LMX_MAX_DIMS; ++k) LMX_REF_TRY(check_dim(w, "src[1]", k, 1, "unused", why));
    LMX_REF_TRY(check_same_shape(x, "src[0]", *node.dst, "dst", why));
    const float eps = node.fparams[0];
    if (!(eps >= 0.0f) || !std::isfinite(eps)) {
        *why = "fparams[0] (eps): expected a finite value >= 0, got " + std::to_string(eps);
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

lmx_status run_rms_norm(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const float* w = static_cast<const float*>(node.src[1]->data);  // [n]
    const float eps = node.fparams[0];
    const int64_t n = x.ne[0];
    for (int64_t r = 0; r < n_rows(x); ++r) {
        const float* xr = f32_row(x, r);
        float* yr = f32_row(*node.dst, r);
        // ggml: squares in float, summed in ggml_float (double); the mean rounded to float.
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
        const auto mean = static_cast<float>(sum / static_cast<double>(n));
        const float scale = 1.0f / std::sqrt(mean + eps);
        // ggml scales first (rms_norm op), then multiplies by the weight (mul op).
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
    }
    return LMX_OK;
}

// ---- swiglu: dst = silu(g) * u, silu(x) = x / (1 + e^-x) ----------------------------------

lmx_status check_swiglu(const lmx_node& node, std::string* why) { return check_f32_binary(node, why); }

lmx_status run_swiglu(const lmx_node& node) {
    const int64_t n = node.dst->ne[0];
    for (int64_t r = 0; r < n_rows(*node.dst); ++r) {
        const float* g = f32_row(*node.src[0], r);
        const float* u = f32_row(*node.src[1], r);
        float* y = f32_row(*node.dst, r);
        for (int64_t i = 0; i < n; ++i) {
            const float silu = g[i] / (1.0f + std::exp(-g[i]));
            y[i] = silu * u[i];
        }
    }
    return LMX_OK;
}

// ---- add: dst = a + b ----------------------------------------------------------------------

lmx_status check_add(const lmx_node& node, std::string* why) { return check_f32_binary(node, why); }

lmx_status run_add(const lmx_node& node) {
    const int64_t n = node.dst->ne[0];
    for (int64_t r = 0; r < n_rows(*node.dst); ++r) {
        const float* a = f32_row(*node.src[0], r);
        const float* b = f32_row(*node.src[1], r);
        float* y = f32_row(*node.dst, r);
        for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
    }
    return LMX_OK;
}

// ---- copy: dst = src converted (F32/F16/BF16 either side) ----------------------------------
// Same shape: row by row, any row strides. Different shapes with the same element count:
// both must be contiguous and the elements are copied in memory order (a reshape).

lmx_status check_copy(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    LMX_REF_TRY(check_dtype(src, "src[0]", kFloatTypes, why));
    LMX_REF_TRY(check_dtype(dst, "dst", kFloatTypes, why));
    bool same_shape = true;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) same_shape = same_shape && src.ne[k] == dst.ne[k];
    if (same_shape) return LMX_OK;
    if (n_elements(src) != n_elements(dst)) {
        *why = tensor_label(&dst, "dst") + ": expected " + std::to_string(n_elements(src)) +
               " elements like " + tensor_label(&src, "src[0]") + " " + shape_str(src) +
               ", got " + std::to_string(n_elements(dst)) + " (" + shape_str(dst) + ")";
        return LMX_ERR_INVALID;
    }
    if (!is_contiguous(src) || !is_contiguous(dst)) {
        *why = "a copy between shapes " + shape_str(src) + " and " + shape_str(dst) +
               " needs contiguous tensors";
        return LMX_ERR_UNSUPPORTED;
    }
    return LMX_OK;
}

lmx_status run_copy(const lmx_node& node) {
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    bool same_shape = true;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) same_shape = same_shape && src.ne[k] == dst.ne[k];
    if (!same_shape) {  // contiguous reshape: one long row
        std::vector<float> tmp(static_cast<size_t>(n_elements(src)));
        load_row_f32(src.dtype, src.data, tmp.data(), n_elements(src));
        store_row_f32(dst.dtype, tmp.data(), dst.data, n_elements(dst));
        return LMX_OK;
    }
    const int64_t n = src.ne[0];
    std::vector<float> tmp(static_cast<size_t>(n));
    for (int64_t r = 0; r < n_rows(src); ++r) {
        load_row_f32(src.dtype, flat_row_ptr(src, r), tmp.data(), n);
        store_row_f32(dst.dtype, tmp.data(), flat_row_ptr(dst, r), n);
    }
    return LMX_OK;
}

}  // namespace llamux::ref
