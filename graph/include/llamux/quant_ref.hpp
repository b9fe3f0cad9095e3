// Scalar reference routines for every storage type: conversion of half floats, dequantize,
// quantize and the dot product of a weight row with an activation row. Written for clarity;
// they are the twins that every fast kernel is tested against, and they reproduce
// llama.cpp's reference results bit for bit where llama.cpp is deterministic.
#pragma once

#include <cstdint>

#include "llamux/dtype.hpp"
#include "llamux/quant_blocks.hpp"

namespace llamux {

float f16_to_f32(f16_bits h);
f16_bits f32_to_f16(float f);    // round to nearest even, as F16C does
float bf16_to_f32(bf16_bits h);
bf16_bits f32_to_bf16(float f);  // round to nearest even; NaN stays NaN

// x[0..n) = row of type t at src. n must be a multiple of the block size of t.
// Defined for F32, F16, BF16 and every quantized type.
void dequantize_row_ref(DType t, const void* src, float* x, int64_t n);

// dst = x[0..n) stored as type t, with llama.cpp's reference algorithm for that type
// (for the K-quants the error-minimising search of its quantize tool, without an
// importance matrix). n must be a multiple of the block size of t.
void quantize_row_ref(DType t, const float* x, void* dst, int64_t n);

// x[0..n) stored as activation type t for a dot product, the way llama.cpp's x86 CPU
// backend converts activations (not weights): Q8_0 and Q8_1 use id = 127 / amax and round
// half to even (its SIMD quantizers), which differs from quantize_row_ref's 1 / (amax / 127)
// and round-half-away in exact ties; every other type is quantize_row_ref (Q8_K) or a plain
// conversion (F16, BF16). Ties are common: an F16 value times id often lands on .5.
void quantize_activation_row_ref(DType t, const float* x, void* dst, int64_t n);

// Dot product of a weight row w (type t, n elements) with an activation row a that is
// already stored as vec_dot_type(t) (see dtype.hpp). Integer arithmetic where llama.cpp
// uses it, so results match its CPU path closely.
float vec_dot_ref(DType t, int64_t n, const void* w, const void* a);

}  // namespace llamux
