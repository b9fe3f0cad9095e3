// Per-format scalar reference routines behind quant_ref.hpp, on typed blocks. They are
// public so that a fast kernel (q4_0_dot_avx2, say) can be tested against its exact twin
// (q4_0_dot_ref) without going through the DType switch.
//
// Conventions, for every routine here:
//   - `nb` counts blocks, not elements: a row of n elements is n / block_size blocks;
//   - inputs and outputs do not overlap; callers own every buffer;
//   - nothing throws and nothing allocates; arguments are not checked (quant_ref.hpp's
//     dispatchers check them).
// The element order inside each block is documented once, beside the block struct in
// quant_blocks.hpp, and again on each routine in graph/src/quant_*.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "llamux/quant_blocks.hpp"

namespace llamux {

// Rounds to the nearest integer, ties to even, exactly as llama.cpp's nearest_int: adding
// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (the FPU rounds the sum to
// nearest even). Defined for |v| < 2^22; outside that range the result is meaningless but
// deterministic (as in llama.cpp), which keeps degenerate blocks reproducible.
inline int nearest_int(float v) {
    const float shifted = v + 12582912.0f;  // 1.5 * 2^23
    uint32_t bits = 0;
    std::memcpy(&bits, &shifted, sizeof bits);
    return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

// ---- 6-bit scale packing shared by Q4_K and Q5_K -------------------------------------
// 8 sub-blocks, each with a 6-bit scale sc[j] and a 6-bit min m[j], in 12 bytes:
//   bytes 0..3  : sc[0..3] in bits 0..5, bits 6..7 = high 2 bits of sc[4..7]
//   bytes 4..7  : m[0..3]  in bits 0..5, bits 6..7 = high 2 bits of m[4..7]
//   bytes 8..11 : low 4 bits of sc[4..7] in bits 0..3, low 4 bits of m[4..7] in bits 4..7
struct ScaleMin {
    uint8_t scale;
    uint8_t min;
};
inline ScaleMin k4_scale_min(int j, const uint8_t* packed) {
    if (j < 4) {
        return {static_cast<uint8_t>(packed[j] & 63), static_cast<uint8_t>(packed[j + 4] & 63)};
    }
    return {static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4)),
            static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4))};
}

// ---- 6-bit signed scale packing of Q3_K ----------------------------------------------
// 16 sub-blocks, scale s[j] stored as s[j] + 32 in 0..63, in 12 bytes:
//   bytes 0..7  : low nibble = low 4 bits of s[0..7], high nibble = low 4 bits of s[8..15]
//   bytes 8..11 : byte 8 + (j % 4), bits 2*(j/4)..2*(j/4)+1 = high 2 bits of s[j]
// Returns s[j] in -32..31.
inline int q3_k_scale(int j, const uint8_t* packed) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// ---- dequantize: x[0 .. nb*block_size) = blocks b[0 .. nb) ---------------------------
void q4_0_dequantize_ref(const BlockQ4_0* b, float* x, int64_t nb);
void q4_1_dequantize_ref(const BlockQ4_1* b, float* x, int64_t nb);
void q5_0_dequantize_ref(const BlockQ5_0* b, float* x, int64_t nb);
void q5_1_dequantize_ref(const BlockQ5_1* b, float* x, int64_t nb);
void q8_0_dequantize_ref(const BlockQ8_0* b, float* x, int64_t nb);
void q8_1_dequantize_ref(const BlockQ8_1* b, float* x, int64_t nb);
void q2_k_dequantize_ref(const BlockQ2_K* b, float* x, int64_t nb);
void q3_k_dequantize_ref(const BlockQ3_K* b, float* x, int64_t nb);
void q4_k_dequantize_ref(const BlockQ4_K* b, float* x, int64_t nb);
void q5_k_dequantize_ref(const BlockQ5_K* b, float* x, int64_t nb);
void q6_k_dequantize_ref(const BlockQ6_K* b, float* x, int64_t nb);
void q8_k_dequantize_ref(const BlockQ8_K* b, float* x, int64_t nb);

// ---- quantize: blocks b[0 .. nb) = x[0 .. nb*block_size), llama.cpp's _ref algorithms --
void q4_0_quantize_ref(const float* x, BlockQ4_0* b, int64_t nb);
void q4_1_quantize_ref(const float* x, BlockQ4_1* b, int64_t nb);
void q5_0_quantize_ref(const float* x, BlockQ5_0* b, int64_t nb);
void q5_1_quantize_ref(const float* x, BlockQ5_1* b, int64_t nb);
void q8_0_quantize_ref(const float* x, BlockQ8_0* b, int64_t nb);
void q8_0_quantize_activation_ref(const float* x, BlockQ8_0* b, int64_t nb);
void q8_1_quantize_ref(const float* x, BlockQ8_1* b, int64_t nb);
void q2_k_quantize_ref(const float* x, BlockQ2_K* b, int64_t nb);
void q3_k_quantize_ref(const float* x, BlockQ3_K* b, int64_t nb);
void q4_k_quantize_ref(const float* x, BlockQ4_K* b, int64_t nb);
void q5_k_quantize_ref(const float* x, BlockQ5_K* b, int64_t nb);
void q6_k_quantize_ref(const float* x, BlockQ6_K* b, int64_t nb);
void q8_k_quantize_ref(const float* x, BlockQ8_K* b, int64_t nb);

// ---- dot products: sum over nb blocks of weight block w[i] . activation block a[i] -----
float q4_0_dot_ref(const BlockQ4_0* w, const BlockQ8_0* a, int64_t nb);
float q4_1_dot_ref(const BlockQ4_1* w, const BlockQ8_0* a, int64_t nb);
float q5_0_dot_ref(const BlockQ5_0* w, const BlockQ8_0* a, int64_t nb);
float q5_1_dot_ref(const BlockQ5_1* w, const BlockQ8_0* a, int64_t nb);
float q8_0_dot_ref(const BlockQ8_0* w, const BlockQ8_0* a, int64_t nb);
float q2_k_dot_ref(const BlockQ2_K* w, const BlockQ8_K* a, int64_t nb);
float q3_k_dot_ref(const BlockQ3_K* w, const BlockQ8_K* a, int64_t nb);
float q4_k_dot_ref(const BlockQ4_K* w, const BlockQ8_K* a, int64_t nb);
float q5_k_dot_ref(const BlockQ5_K* w, const BlockQ8_K* a, int64_t nb);
float q6_k_dot_ref(const BlockQ6_K* w, const BlockQ8_K* a, int64_t nb);

// ---- plain float rows (n elements) ----------------------------------------------------
float f32_dot_ref(const float* w, const float* a, int64_t n);
float f16_dot_ref(const f16_bits* w, const f16_bits* a, int64_t n);
float bf16_dot_ref(const bf16_bits* w, const bf16_bits* a, int64_t n);

}  // namespace llamux
