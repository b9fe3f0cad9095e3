// Tensor geometry for the CPU executors: element counts and row addresses of an lmx_tensor
// (ggml order: ne[0] is the contiguous row, nb[k] the byte stride of dimension k).
#pragma once

#include <cstddef>
#include <cstdint>

#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"

namespace llamux::cpu {

inline int64_t n_rows(const lmx_tensor& t) { return t.ne[1] * t.ne[2] * t.ne[3]; }
inline int64_t n_elements(const lmx_tensor& t) { return t.ne[0] * n_rows(t); }

// Row (i1, i2, i3) of t: the first byte of its ne[0] elements.
inline std::byte* row_ptr(const lmx_tensor& t, int64_t i1, int64_t i2 = 0, int64_t i3 = 0) {
    return static_cast<std::byte*>(t.data) + static_cast<size_t>(i1) * t.nb[1] +
           static_cast<size_t>(i2) * t.nb[2] + static_cast<size_t>(i3) * t.nb[3];
}

// Row r counted in flattened order (i1 fastest, then i2, then i3).
inline std::byte* flat_row_ptr(const lmx_tensor& t, int64_t r) {
    const int64_t i1 = r % t.ne[1];
    const int64_t i2 = (r / t.ne[1]) % t.ne[2];
    const int64_t i3 = r / (t.ne[1] * t.ne[2]);
    return row_ptr(t, i1, i2, i3);
}

inline float* f32_row(const lmx_tensor& t, int64_t r) {
    return reinterpret_cast<float*>(flat_row_ptr(t, r));
}

// True when the rows of t lie back to back, so that t is one array of n_elements(t).
inline bool is_contiguous(const lmx_tensor& t) {
    const auto ti = dtype_info(t.dtype);
    if (!ti || t.nb[0] != ti->type_size) return false;
    size_t expected = static_cast<size_t>(t.ne[0] / ti->block_size) * ti->type_size;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1 && t.nb[k] != expected) return false;
        expected *= static_cast<size_t>(t.ne[k]);
    }
    return true;
}

// Bytes from the first to one past the last byte of t (0 for an empty or unknown tensor).
inline size_t byte_extent(const lmx_tensor& t) {
    const auto ti = dtype_info(t.dtype);
    if (!ti) return 0;
    size_t end = static_cast<size_t>(t.ne[0] / ti->block_size) * ti->type_size;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) end += static_cast<size_t>(t.ne[k] - 1) * t.nb[k];
    return end;
}

// True when the byte ranges of a and b overlap.
inline bool overlaps(const lmx_tensor& a, const lmx_tensor& b) {
    const auto* a0 = static_cast<const std::byte*>(a.data);
    const auto* b0 = static_cast<const std::byte*>(b.data);
    return a0 < b0 + byte_extent(b) && b0 < a0 + byte_extent(a);
}

}  // namespace llamux::cpu
