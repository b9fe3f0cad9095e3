// Reference matmul: dst[N, M] = W[K, N] x[K, M], as llama.cpp's CPU backend computes it.
// Each activation column x[:, m] is first stored as the weight's vec_dot_type (Q8_0 for the
// legacy quants, Q8_K for the K-quants, F16/BF16 for half weights, F32 for F32), then
// every output element is vec_dot_ref(W row n, that converted column).
#include <vector>

#include "llamux/quant_ref.hpp"
#include "ops_ref_common.hpp"

namespace llamux::ref {
namespace {

// Weight types with a vec_dot_ref (Q8_1 and Q8_K are activation formats only).
constexpr std::initializer_list<DType> kWeightTypes = {
    DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
    DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

}  // namespace

lmx_status check_matmul(const lmx_node& node, std::string* why) {
    LMX_REF_TRY(check_tensor(node.src[0], "src[0]", why));
    LMX_REF_TRY(check_tensor(node.src[1], "src[1]", why));
    LMX_REF_TRY(check_tensor(node.dst, "dst", why));
    const lmx_tensor& w = *node.src[0];  // [K, N]
    const lmx_tensor& x = *node.src[1];  // [K, M, B2, B3]
    const lmx_tensor& dst = *node.dst;   // [N, M, B2, B3]
    LMX_REF_TRY(check_dtype(w, "src[0]", kWeightTypes, why));
    LMX_REF_TRY(check_dtype(x, "src[1]", {DType::F32}, why));
    LMX_REF_TRY(check_dtype(dst, "dst", {DType::F32}, why));
    LMX_REF_TRY(check_dim(w, "src[0]", 2, 1, "unused: the weight is 2-D", why));
    LMX_REF_TRY(check_dim(w, "src[0]", 3, 1, "unused: the weight is 2-D", why));
    LMX_REF_TRY(check_dim(x, "src[1]", 0, w.ne[0], "K, the weight's row length", why));
    const DType vdt = vec_dot_type(static_cast<DType>(w.dtype));
    if (w.ne[0] % info(vdt).block_size != 0) {
        *why = tensor_label(&w, "src[0]") + ": row length " + std::to_string(w.ne[0]) +
               " is not a multiple of the " + std::string(dtype_name(vdt)) + " block size " +
               std::to_string(info(vdt).block_size);
        return LMX_ERR_INVALID;
    }
    LMX_REF_TRY(check_dim(dst, "dst", 0, w.ne[1], "N, the weight's row count", why));
    LMX_REF_TRY(check_dim(dst, "dst", 1, x.ne[1], "M, the columns of x", why));
    LMX_REF_TRY(check_dim(dst, "dst", 2, x.ne[2], "ne[2] of x", why));
    return check_dim(dst, "dst", 3, x.ne[3], "ne[3] of x", why);
}

lmx_status run_matmul(const lmx_node& node) {
    const lmx_tensor& w = *node.src[0];
    const lmx_tensor& x = *node.src[1];
    const lmx_tensor& dst = *node.dst;
    const auto wt = static_cast<DType>(w.dtype);
    const DType vdt = vec_dot_type(wt);
    const int64_t K = w.ne[0], N = w.ne[1];

    // One activation column in vec_dot_type; F32 weights read x in place.
    std::vector<std::byte> act(*row_bytes(vdt, K));
    for (int64_t m = 0; m < n_rows(x); ++m) {
        const float* xm = f32_row(x, m);  // [K]
        const void* a = xm;
        if (vdt != DType::F32) {
            quantize_activation_row_ref(vdt, xm, act.data(), K);
            a = act.data();
        }
        float* y = f32_row(dst, m);  // [N]
        for (int64_t n = 0; n < N; ++n) y[n] = vec_dot_ref(wt, K, row_ptr(w, n), a);
    }
    return LMX_OK;
}

}  // namespace llamux::ref
