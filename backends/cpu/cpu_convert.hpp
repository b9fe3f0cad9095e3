// Row conversions between the float storage types F32, F16 and BF16, with F16C where the
// CPU has it. Results equal the scalar reference conversions of quant_ref.hpp (both round
// to nearest even), so the choice of path never changes a value.
#pragma once

#include <cstdint>

#include "kernels/kernels.hpp"

namespace llamux::cpu {

// True for F32, F16 and BF16.
bool is_float_type(int32_t dtype);

// dst[0..n) (type dst_type) = src[0..n) (type src_type); both must be float types.
// src and dst must not overlap unless they are the same F32 row.
void convert_row(int32_t src_type, const void* src, int32_t dst_type, void* dst, int64_t n,
                 Isa isa);

}  // namespace llamux::cpu
