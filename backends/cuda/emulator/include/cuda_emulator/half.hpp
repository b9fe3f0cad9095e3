// __half and __nv_bfloat16 for the emulated kernels: storage types with the conversion
// intrinsics the kernels use, rounding as the GPU rounds (to nearest even).
#pragma once

#include <cstdint>

#include "llamux/quant_ref.hpp"

struct __half {
    uint16_t bits;
};

struct __nv_bfloat16 {
    uint16_t bits;
};

inline __half __float2half_rn(float v) { return {llamux::f32_to_f16(v)}; }
inline float __half2float(__half h) { return llamux::f16_to_f32(h.bits); }
inline __half __ushort_as_half(unsigned short bits) { return {bits}; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }

inline __nv_bfloat16 __float2bfloat16_rn(float v) { return {llamux::f32_to_bf16(v)}; }
inline float __bfloat162float(__nv_bfloat16 h) { return llamux::bf16_to_f32(h.bits); }
