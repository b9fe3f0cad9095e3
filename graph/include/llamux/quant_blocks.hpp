// Block layouts of the GGUF quantized types, byte-compatible with llama.cpp files.
// Each block holds a fixed number of consecutive elements of one row; a row of n
// elements is n / block_size blocks. Scales are IEEE half (stored as uint16_t bits).
#pragma once

#include <cstdint>

namespace llamux {

using f16_bits = uint16_t;   // IEEE 754 binary16
using bf16_bits = uint16_t;  // bfloat16: the upper half of an f32

constexpr int kQK4_0 = 32;
constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;
constexpr int kQK8_0 = 32;
constexpr int kQK8_1 = 32;
constexpr int kQK_K = 256;         // super-block length of the K-quants
constexpr int kKScaleBytes = 12;   // packed 6-bit scales and mins of Q4_K / Q5_K

// x[i] = d * (q[i] - 8); low nibbles hold elements 0..15, high nibbles 16..31.
struct BlockQ4_0 {
    f16_bits d;
    uint8_t qs[kQK4_0 / 2];
};
// x[i] = d * q[i] + m
struct BlockQ4_1 {
    f16_bits d;
    f16_bits m;
    uint8_t qs[kQK4_1 / 2];
};
// x[i] = d * (q[i] - 16); 5th bit of element i in bit i of qh.
struct BlockQ5_0 {
    f16_bits d;
    uint8_t qh[4];
    uint8_t qs[kQK5_0 / 2];
};
// x[i] = d * q[i] + m
struct BlockQ5_1 {
    f16_bits d;
    f16_bits m;
    uint8_t qh[4];
    uint8_t qs[kQK5_1 / 2];
};
// x[i] = d * q[i]
struct BlockQ8_0 {
    f16_bits d;
    int8_t qs[kQK8_0];
};
// x[i] = d * q[i]; s = d * sum(q)
struct BlockQ8_1 {
    f16_bits d;
    f16_bits s;
    int8_t qs[kQK8_1];
};
// 16 sub-blocks of 16: x = d * (scales & 0xF) * q - dmin * (scales >> 4), q in 0..3
struct BlockQ2_K {
    uint8_t scales[kQK_K / 16];
    uint8_t qs[kQK_K / 4];
    f16_bits d;
    f16_bits dmin;
};
// 16 sub-blocks of 16, 6-bit signed scales (packed), q = 2 low bits + high bit in hmask, minus 4
struct BlockQ3_K {
    uint8_t hmask[kQK_K / 8];
    uint8_t qs[kQK_K / 4];
    uint8_t scales[12];
    f16_bits d;
};
// 8 sub-blocks of 32, 6-bit scales and mins: x = d * sc * q - dmin * m, q in 0..15
struct BlockQ4_K {
    f16_bits d;
    f16_bits dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQK_K / 2];
};
// as Q4_K with a 5th bit per element in qh
struct BlockQ5_K {
    f16_bits d;
    f16_bits dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
// 16 sub-blocks of 16, int8 scales: x = d * scales * (q - 32), q 6 bits (4 in ql, 2 in qh)
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    f16_bits d;
};
// Activation format of the K-quant dot products: f32 scale, int8 values, sums per 16.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace llamux
