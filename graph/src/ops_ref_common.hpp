// Private helpers shared by the reference ops (graph/src/ops_ref*.cpp): tensor geometry,
// row addressing and the checks every op makes before it runs.
//
// Each op family provides two functions:
//   check_<op>(node, why)        static dtype/shape checks; LMX_OK or a status with *why set
//                                to "expected ..., got ..." (without the node prefix)
//   run_<op>(node, args, why)    runs a node that passed check_<op>; may still fail on
//                                run-time values (token ids, n_past) with *why set
// ops_ref.cpp dispatches and prefixes messages with the op name and the dst tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"

// Returns from the enclosing function when a check fails.
#define LMX_REF_TRY(expr)                     \
    do {                                      \
        const lmx_status lmx_ref_s_ = (expr); \
        if (lmx_ref_s_ != LMX_OK) return lmx_ref_s_; \
    } while (0)

namespace llamux::ref {

// "4096x32x1x1" -> printed without trailing 1s: "4096x32"
std::string shape_str(const lmx_tensor& t);
std::string dtype_str(int32_t dtype);
// "tensor_name" or "src[i]" if unnamed
std::string tensor_label(const lmx_tensor* t, const char* fallback);

inline int64_t n_rows(const lmx_tensor& t) { return t.ne[1] * t.ne[2] * t.ne[3]; }
inline int64_t n_elements(const lmx_tensor& t) { return t.ne[0] * n_rows(t); }

// Row (i1, i2, i3) of t: the first byte of its ne[0] elements.
inline std::byte* row_ptr(const lmx_tensor& t, int64_t i1, int64_t i2 = 0, int64_t i3 = 0) {
    return static_cast<std::byte*>(t.data) + static_cast<size_t>(i1) * t.nb[1] +
           static_cast<size_t>(i2) * t.nb[2] + static_cast<size_t>(i3) * t.nb[3];
}
// Row r in flattened (i1 fastest) order.
inline std::byte* flat_row_ptr(const lmx_tensor& t, int64_t r) {
    const int64_t i1 = r % t.ne[1];
    const int64_t i2 = (r / t.ne[1]) % t.ne[2];
    const int64_t i3 = r / (t.ne[1] * t.ne[2]);
    return row_ptr(t, i1, i2, i3);
}
inline float* f32_row(const lmx_tensor& t, int64_t r) {
    return reinterpret_cast<float*>(flat_row_ptr(t, r));
}

// Static checks of one tensor slot: the pointer is set, the dtype id is known, every ne[k]
// is >= 1, ne[0] is a whole number of blocks, nb[0] is the block size and rows do not
// overlap (nb[1] >= row bytes, nb[2] >= nb[1]*ne[1], ...). Data is not looked at: a node
// may be checked before its memory is bound. `what` names the slot ("src[0]", "dst").
lmx_status check_tensor(const lmx_tensor* t, const char* what, std::string* why);
// The dtype of t is one of `allowed`, else UNSUPPORTED naming the allowed ones.
lmx_status check_dtype(const lmx_tensor& t, const char* what, std::initializer_list<DType> allowed,
                       std::string* why);
// Same ne[0..3] in both, else INVALID naming both shapes.
lmx_status check_same_shape(const lmx_tensor& a, const char* what_a, const lmx_tensor& b,
                            const char* what_b, std::string* why);
// ne[k] == want for the dimension k, else INVALID "<what> ne[k]: expected .., got ..".
lmx_status check_dim(const lmx_tensor& t, const char* what, int k, int64_t want,
                     const char* meaning, std::string* why);
// True when t's rows lie back to back (nb[1] = row bytes, nb[2] = nb[1]*ne[1], ...).
bool is_contiguous(const lmx_tensor& t);

// Element-row conversions between F32/F16/BF16 storage and float.
void load_row_f32(int32_t dtype, const void* src, float* dst, int64_t n);
void store_row_f32(int32_t dtype, const float* src, void* dst, int64_t n);

// Op families, see the top of this file.
lmx_status check_get_rows(const lmx_node& node, std::string* why);
lmx_status run_get_rows(const lmx_node& node, std::string* why);
lmx_status check_rms_norm(const lmx_node& node, std::string* why);
lmx_status run_rms_norm(const lmx_node& node);
lmx_status check_swiglu(const lmx_node& node, std::string* why);
lmx_status run_swiglu(const lmx_node& node);
lmx_status check_add(const lmx_node& node, std::string* why);
lmx_status run_add(const lmx_node& node);
lmx_status check_copy(const lmx_node& node, std::string* why);
lmx_status run_copy(const lmx_node& node);

lmx_status check_matmul(const lmx_node& node, std::string* why);
lmx_status run_matmul(const lmx_node& node);

lmx_status check_rope(const lmx_node& node, std::string* why);
lmx_status run_rope(const lmx_node& node);
lmx_status check_kv_store(const lmx_node& node, std::string* why);
lmx_status run_kv_store(const lmx_node& node, const lmx_exec_args& args, std::string* why);
lmx_status check_attention(const lmx_node& node, std::string* why);
lmx_status run_attention(const lmx_node& node, const lmx_exec_args& args, std::string* why);

}  // namespace llamux::ref
