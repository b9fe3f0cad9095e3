// Row conversions between f32 and the KV cache types, for the plain C++ parts of the
// oneDNN backend (see onednn_half.cpp for why not oneDNN reorders).
#pragma once

#include <cstdint>

namespace llamux::onednn {

// dst[0..n) = src as float; dtype is LMX_TYPE_F16, LMX_TYPE_BF16 or LMX_TYPE_F32.
void half_to_f32(int32_t dtype, const void* src, float* dst, int64_t n);
// dst[0..n) = src stored as dtype (round to nearest even).
void f32_to_half(int32_t dtype, const float* src, void* dst, int64_t n);
// x[i] = x[i] rounded to dtype and back (no-op for LMX_TYPE_F32).
void round_to(int32_t dtype, float* x, int64_t n);

}  // namespace llamux::onednn
