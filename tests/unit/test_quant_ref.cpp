// Scalar reference quant routines (quant_ref.hpp): half-float conversions, dequantize
// against formulas written here from the block layouts, quantize -> dequantize error
// bounds, vec_dot_ref against the dot of dequantized rows, and byte identity with the
// tensors llama.cpp's quantize tool wrote into the synth-tiny fixtures.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

float from_bits(uint32_t b) { return std::bit_cast<float>(b); }
uint32_t to_bits(float f) { return std::bit_cast<uint32_t>(f); }

std::vector<uint8_t> row_buffer(DType t, int64_t n) {
    return std::vector<uint8_t>(row_bytes(t, n).value());
}

std::vector<float> gaussian_row(std::mt19937& rng, int64_t n, float sigma = 1.0f) {
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = dist(rng);
    return x;
}

// ======================================================================================
// f16 / bf16
// ======================================================================================

TEST(HalfFloat, F16KnownValues) {
    EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
    EXPECT_EQ(f32_to_f16(0.333333343f), 0x3555);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);            // largest finite
    EXPECT_EQ(f32_to_f16(65519.996f), 0x7BFF);          // just under the midpoint to inf
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);            // midpoint, ties to even = inf
    EXPECT_EQ(f32_to_f16(1e10f), 0x7C00);
    EXPECT_EQ(f32_to_f16(INFINITY), 0x7C00);
    EXPECT_EQ(f32_to_f16(-INFINITY), 0xFC00);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half of it: tie to even 0
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0001f, -25)), 0x0001);
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie to even 2
    EXPECT_EQ(f32_to_f16(std::ldexp(5.0f, -25)), 0x0002);  // 2.5 units: tie to even 2
    EXPECT_EQ(f32_to_f16(std::ldexp(1023.0f, -24)), 0x03FF);  // largest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);  // rounds up into the normals
    EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -24)), 0x8001);
    EXPECT_EQ(f32_to_f16(from_bits(0x00000001)), 0x0000);    // f32 subnormal
    // Ties in the normal range: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);

    EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
    EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24));
    EXPECT_EQ(to_bits(f16_to_f32(0x8000)), 0x80000000u);
    EXPECT_EQ(f16_to_f32(0x7C00), INFINITY);
    EXPECT_EQ(f16_to_f32(0xFC00), -INFINITY);
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0xFC01)));
}

TEST(HalfFloat, F16NaNStaysNaN) {
    for (uint32_t payload : {0x00400000u, 0x00000001u, 0x00200000u, 0x007FFFFFu}) {
        for (uint32_t sign : {0u, 0x80000000u}) {
            const f16_bits h = f32_to_f16(from_bits(sign | 0x7F800000u | payload));
            EXPECT_EQ(h & 0x7C00, 0x7C00);
            EXPECT_NE(h & 0x03FF, 0) << std::hex << payload;
            EXPECT_EQ(h & 0x8000, sign >> 16);
        }
    }
}

TEST(HalfFloat, F16RoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = f16_to_f32(static_cast<f16_bits>(h));
        if (std::isnan(f)) {
            ASSERT_TRUE((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0);
            ASSERT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
            continue;
        }
        ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    }
}

// For random f32 values, the result is a nearest half, and on a tie the even one: checked
// against the two neighbours in double arithmetic.
TEST(HalfFloat, F16RoundsToNearestEven) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bits(0, 0x477FEFFFu);  // |f| < 65520
    for (int i = 0; i < 200000; ++i) {
        const uint32_t b = bits(rng) | ((i & 1) ? 0x80000000u : 0u);
        const float f = from_bits(b);
        const f16_bits h = f32_to_f16(f);
        const double err = std::fabs(static_cast<double>(f) - f16_to_f32(h));
        const f16_bits mag = h & 0x7FFF;
        for (int delta : {-1, 1}) {
            const int nm = mag + delta;
            if (nm < 0 || nm > 0x7BFF) continue;
            const f16_bits other = static_cast<f16_bits>((h & 0x8000) | nm);
            const double other_err = std::fabs(static_cast<double>(f) - f16_to_f32(other));
            ASSERT_LE(err, other_err) << std::hex << b;
            if (err == other_err) {
                ASSERT_EQ(h & 1, 0) << "tie not to even " << std::hex << b;
            }
        }
    }
}

TEST(HalfFloat, Bf16KnownValues) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  // tie, even stays
    EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
    EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
    EXPECT_EQ(f32_to_bf16(from_bits(0x7F7F7FFFu)), 0x7F7F);
    EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  // rounds to inf
    EXPECT_EQ(f32_to_bf16(INFINITY), 0x7F80);
    EXPECT_EQ(f32_to_bf16(-INFINITY), 0xFF80);
    // Subnormals round like other values (no flush to zero).
    EXPECT_EQ(f32_to_bf16(from_bits(0x00008000u)), 0x0000);
    EXPECT_EQ(f32_to_bf16(from_bits(0x00018000u)), 0x0002);
    EXPECT_EQ(f32_to_bf16(from_bits(0x00010001u)), 0x0001);
    EXPECT_EQ(f32_to_bf16(from_bits(0x80010000u)), 0x8001);
    // NaN stays NaN, also when the payload is only in the dropped low bits.
    for (uint32_t b : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu}) {
        const bf16_bits h = f32_to_bf16(from_bits(b));
        EXPECT_TRUE(std::isnan(bf16_to_f32(h))) << std::hex << b;
        EXPECT_EQ(h & 0x8000, (b >> 16) & 0x8000);
    }
    EXPECT_EQ(to_bits(bf16_to_f32(0x3F80)), 0x3F800000u);
    EXPECT_EQ(to_bits(bf16_to_f32(0x0001)), 0x00010000u);
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = bf16_to_f32(static_cast<bf16_bits>(h));
        if (!std::isnan(f)) {
            ASSERT_EQ(f32_to_bf16(f), h);
        }
    }
}

// ======================================================================================
// Dequantize hand-made blocks against the layout formulas
// ======================================================================================
// Each test picks the logical contents (quants, scales, mins) at random, packs them with a
// packer written here from the layout description in quant_blocks.hpp / llama.cpp's
// block_* comments, and checks every element against the formula. Scales are small powers
// of two, so every expected value is exact.

constexpr f16_bits kHalf = 0x3800;     // 0.5
constexpr f16_bits kQuarter = 0x3400;  // 0.25

template <typename Block>
Block zero_block() {
    Block b;
    std::memset(&b, 0, sizeof b);
    return b;
}

TEST(DequantizeFormula, Q4_0) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> q(0, 15);
    auto b = zero_block<BlockQ4_0>();
    b.d = kHalf;
    int v[32];
    for (int j = 0; j < 32; ++j) v[j] = q(rng);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(v[j] | (v[j + 16] << 4));
    float x[32];
    dequantize_row_ref(DType::Q4_0, &b, x, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.5f * static_cast<float>(v[j] - 8)) << j;
}

TEST(DequantizeFormula, Q4_1) {
    std::mt19937 rng(2);
    std::uniform_int_distribution<int> q(0, 15);
    auto b = zero_block<BlockQ4_1>();
    b.d = kQuarter;
    b.m = f32_to_f16(-1.5f);
    int v[32];
    for (int j = 0; j < 32; ++j) v[j] = q(rng);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(v[j] | (v[j + 16] << 4));
    float x[32];
    dequantize_row_ref(DType::Q4_1, &b, x, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.25f * static_cast<float>(v[j]) - 1.5f) << j;
}

template <typename Block>
void pack_q5(Block& b, const int* v) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        b.qs[j] = static_cast<uint8_t>((v[j] & 15) | ((v[j + 16] & 15) << 4));
    }
    for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>(v[j] >> 4) << j;
    b.qh[0] = static_cast<uint8_t>(qh);
    b.qh[1] = static_cast<uint8_t>(qh >> 8);
    b.qh[2] = static_cast<uint8_t>(qh >> 16);
    b.qh[3] = static_cast<uint8_t>(qh >> 24);
}

TEST(DequantizeFormula, Q5_0AndQ5_1) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> q(0, 31);
    int v[32];
    for (int j = 0; j < 32; ++j) v[j] = q(rng);
    auto b0 = zero_block<BlockQ5_0>();
    b0.d = kHalf;
    pack_q5(b0, v);
    auto b1 = zero_block<BlockQ5_1>();
    b1.d = kQuarter;
    b1.m = f32_to_f16(2.0f);
    pack_q5(b1, v);
    float x0[32], x1[32];
    dequantize_row_ref(DType::Q5_0, &b0, x0, 32);
    dequantize_row_ref(DType::Q5_1, &b1, x1, 32);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(x0[j], 0.5f * static_cast<float>(v[j] - 16)) << j;
        EXPECT_EQ(x1[j], 0.25f * static_cast<float>(v[j]) + 2.0f) << j;
    }
}

TEST(DequantizeFormula, Q8_0Q8_1Q8_K) {
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> q(-127, 127);
    auto b0 = zero_block<BlockQ8_0>();
    auto b1 = zero_block<BlockQ8_1>();
    auto bk = zero_block<BlockQ8_K>();
    b0.d = kHalf;
    b1.d = kQuarter;
    bk.d = 0.125f;
    for (int j = 0; j < 32; ++j) b0.qs[j] = b1.qs[j] = static_cast<int8_t>(q(rng));
    for (int j = 0; j < 256; ++j) bk.qs[j] = static_cast<int8_t>(q(rng));
    float x0[32], x1[32], xk[256];
    dequantize_row_ref(DType::Q8_0, &b0, x0, 32);
    dequantize_row_ref(DType::Q8_1, &b1, x1, 32);
    dequantize_row_ref(DType::Q8_K, &bk, xk, 256);
    for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(x0[j], 0.5f * b0.qs[j]);
        EXPECT_EQ(x1[j], 0.25f * b1.qs[j]);
    }
    for (int j = 0; j < 256; ++j) EXPECT_EQ(xk[j], 0.125f * bk.qs[j]);
}

// Q2_K: qs byte (e/128)*32 + e%32 holds element e in bits 2*((e%128)/32); scales[e/16]
// = scale | min << 4.
TEST(DequantizeFormula, Q2_K) {
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> q(0, 3), s(0, 15);
    auto b = zero_block<BlockQ2_K>();
    b.d = kHalf;
    b.dmin = kQuarter;
    int v[256], sc[16], mn[16];
    for (int e = 0; e < 256; ++e) v[e] = q(rng);
    for (int j = 0; j < 16; ++j) {
        sc[j] = s(rng);
        mn[j] = s(rng);
        b.scales[j] = static_cast<uint8_t>(sc[j] | (mn[j] << 4));
    }
    for (int e = 0; e < 256; ++e) {
        b.qs[(e / 128) * 32 + e % 32] |= static_cast<uint8_t>(v[e] << (2 * ((e % 128) / 32)));
    }
    float x[256];
    dequantize_row_ref(DType::Q2_K, &b, x, 256);
    for (int e = 0; e < 256; ++e) {
        const float want = 0.5f * static_cast<float>(sc[e / 16] * v[e]) -
                           0.25f * static_cast<float>(mn[e / 16]);
        EXPECT_EQ(x[e], want) << e;
    }
}

// Q3_K: 3-bit q = low 2 bits (as Q2_K) + 4 * hmask bit; hmask[e%32] bit e/32; value q - 4.
// Scale j: 6 bits (+32 bias), low nibble in scales[j%8] (low half for j<8), high 2 bits in
// scales[8 + j%4] at bit 2*(j/4).
TEST(DequantizeFormula, Q3_K) {
    std::mt19937 rng(6);
    std::uniform_int_distribution<int> q(-4, 3), s(-32, 31);
    auto b = zero_block<BlockQ3_K>();
    b.d = kQuarter;
    int v[256], sc[16];
    for (int e = 0; e < 256; ++e) v[e] = q(rng);
    for (int j = 0; j < 16; ++j) {
        sc[j] = s(rng);
        const int u = sc[j] + 32;
        b.scales[j % 8] |= static_cast<uint8_t>((u & 15) << (j < 8 ? 0 : 4));
        b.scales[8 + j % 4] |= static_cast<uint8_t>((u >> 4) << (2 * (j / 4)));
    }
    for (int e = 0; e < 256; ++e) {
        const int u = v[e] + 4;  // 0..7
        b.qs[(e / 128) * 32 + e % 32] |= static_cast<uint8_t>((u & 3) << (2 * ((e % 128) / 32)));
        if (u & 4) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    }
    float x[256];
    dequantize_row_ref(DType::Q3_K, &b, x, 256);
    for (int e = 0; e < 256; ++e) {
        EXPECT_EQ(x[e], 0.25f * static_cast<float>(sc[e / 16] * v[e])) << e;
    }
}

// Q4_K/Q5_K scales: 8 (scale, min) pairs of 6 bits. j<4: scales[j], scales[j+4] low 6 bits.
// j>=4: low nibbles in scales[j+4] (scale low, min high), top 2 bits in bits 6..7 of
// scales[j-4] (scale) and scales[j] (min).
void pack_k4(uint8_t* p, const int* sc, const int* mn) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            p[j] |= static_cast<uint8_t>(sc[j]);
            p[j + 4] |= static_cast<uint8_t>(mn[j]);
        } else {
            p[j + 4] |= static_cast<uint8_t>((sc[j] & 15) | ((mn[j] & 15) << 4));
            p[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
            p[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
        }
    }
}

// Q4_K: element e in qs[(e/64)*32 + e%32], low nibble if (e%64) < 32 else high nibble.
// Q5_K adds bit e/32 of qh[e%32] as 16.
TEST(DequantizeFormula, Q4_KAndQ5_K) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> q(0, 31), s(0, 63);
    auto b4 = zero_block<BlockQ4_K>();
    auto b5 = zero_block<BlockQ5_K>();
    b4.d = b5.d = kQuarter;
    b4.dmin = b5.dmin = kHalf;
    int v[256], sc[8], mn[8];
    for (int e = 0; e < 256; ++e) v[e] = q(rng);
    for (int j = 0; j < 8; ++j) {
        sc[j] = s(rng);
        mn[j] = s(rng);
    }
    pack_k4(b4.scales, sc, mn);
    pack_k4(b5.scales, sc, mn);
    for (int e = 0; e < 256; ++e) {
        const int shift = (e % 64) < 32 ? 0 : 4;
        b4.qs[(e / 64) * 32 + e % 32] |= static_cast<uint8_t>((v[e] & 15) << shift);
        b5.qs[(e / 64) * 32 + e % 32] |= static_cast<uint8_t>((v[e] & 15) << shift);
        if (v[e] & 16) b5.qh[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    }
    float x4[256], x5[256];
    dequantize_row_ref(DType::Q4_K, &b4, x4, 256);
    dequantize_row_ref(DType::Q5_K, &b5, x5, 256);
    for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        const float m = 0.5f * static_cast<float>(mn[j]);
        EXPECT_EQ(x4[e], 0.25f * static_cast<float>(sc[j] * (v[e] & 15)) - m) << e;
        EXPECT_EQ(x5[e], 0.25f * static_cast<float>(sc[j] * v[e]) - m) << e;
    }
}

// Q6_K: u = q + 32 in 0..63. Half h = e/128, part p = (e%128)/32, l = e%32: low nibble in
// ql[64h + l + 32*(p&1)] (low half for p<2, high half else), top 2 bits in qh[32h + l] at
// bit 2p. int8 scales[e/16].
TEST(DequantizeFormula, Q6_K) {
    std::mt19937 rng(8);
    std::uniform_int_distribution<int> q(-32, 31), s(-128, 127);
    auto b = zero_block<BlockQ6_K>();
    b.d = kQuarter;
    int v[256];
    for (int e = 0; e < 256; ++e) v[e] = q(rng);
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(s(rng));
    for (int e = 0; e < 256; ++e) {
        const int u = v[e] + 32, h = e / 128, p = (e % 128) / 32, l = e % 32;
        b.ql[64 * h + l + 32 * (p & 1)] |= static_cast<uint8_t>((u & 15) << (p < 2 ? 0 : 4));
        b.qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * p));
    }
    float x[256];
    dequantize_row_ref(DType::Q6_K, &b, x, 256);
    for (int e = 0; e < 256; ++e) {
        EXPECT_EQ(x[e], 0.25f * static_cast<float>(b.scales[e / 16] * v[e])) << e;
    }
}

TEST(DequantizeFormula, PlainTypes) {
    const float src[4] = {1.0f, -2.5f, 1e-3f, 65504.0f};
    const f16_bits h[4] = {0x3C00, 0xC100, f32_to_f16(1e-3f), 0x7BFF};
    const bf16_bits bh[4] = {0x3F80, 0xC020, 0x3A83, 0x477F};
    float x[4];
    dequantize_row_ref(DType::F32, src, x, 4);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(x[i], src[i]);
    dequantize_row_ref(DType::F16, h, x, 4);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(x[i], f16_to_f32(h[i]));
    EXPECT_EQ(x[1], -2.5f);
    dequantize_row_ref(DType::BF16, bh, x, 4);
    EXPECT_EQ(x[0], 1.0f);
    EXPECT_EQ(x[1], -2.5f);
    EXPECT_EQ(x[3], 65280.0f);
}

TEST(QuantRefErrors, RejectsBadLengthsAndTypes) {
    std::vector<float> x(64, 1.0f);
    std::vector<uint8_t> buf(1024);
    EXPECT_THROW(quantize_row_ref(DType::Q4_0, x.data(), buf.data(), 33), Error);
    EXPECT_THROW(dequantize_row_ref(DType::Q4_K, buf.data(), x.data(), 32), Error);
    EXPECT_THROW(vec_dot_ref(DType::Q6_K, 64, buf.data(), buf.data()), Error);
    EXPECT_THROW(quantize_row_ref(DType::I32, x.data(), buf.data(), 4), Error);
    EXPECT_THROW(vec_dot_ref(DType::Q8_K, 256, buf.data(), buf.data()), Error);
}

// ======================================================================================
// quantize -> dequantize error, per type
// ======================================================================================
// Measure: RMS of (x' - x) over RMS of x, on Gaussian rows of several lengths; plus a
// worst-element bound relative to the row's max |x|. Row lengths: 1 and 3 blocks, 512 and
// 4096 elements; the last of four rows per length has sigma 1e-3 instead of 1.

struct RoundTripCase {
    DType type;
    double max_rel_rms;  // bound on rms(x' - x) / rms(x)
    double max_rel_abs;  // bound on max|x' - x| / max|x|
};

std::string case_name(const testing::TestParamInfo<RoundTripCase>& info) {
    return std::string(dtype_name(info.param.type));
}

class RoundTrip : public testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, ErrorWithinBound) {
    const RoundTripCase c = GetParam();
    std::mt19937 rng(42);
    double worst_rms = 0.0, worst_abs = 0.0;
    const int64_t bs = info(c.type).block_size;
    for (int64_t n : {bs, 3 * bs, int64_t{512}, int64_t{4096}}) {
        for (int rep = 0; rep < 4; ++rep) {
            const std::vector<float> x = gaussian_row(rng, n, rep == 3 ? 1e-3f : 1.0f);
            std::vector<uint8_t> q = row_buffer(c.type, n);
            quantize_row_ref(c.type, x.data(), q.data(), n);
            std::vector<float> y(static_cast<size_t>(n));
            dequantize_row_ref(c.type, q.data(), y.data(), n);
            double se = 0, sx = 0, max_err = 0, max_x = 0;
            for (size_t i = 0; i < x.size(); ++i) {
                ASSERT_TRUE(std::isfinite(y[i]));
                const double d = static_cast<double>(y[i]) - x[i];
                se += d * d;
                sx += static_cast<double>(x[i]) * x[i];
                max_err = std::max(max_err, std::fabs(d));
                max_x = std::max(max_x, std::fabs(static_cast<double>(x[i])));
            }
            worst_rms = std::max(worst_rms, std::sqrt(se / sx));
            worst_abs = std::max(worst_abs, max_err / max_x);
        }
    }
    EXPECT_LE(worst_rms, c.max_rel_rms) << dtype_name(c.type);
    EXPECT_LE(worst_abs, c.max_rel_abs) << dtype_name(c.type);
    RecordProperty("rel_rms", std::to_string(worst_rms));
    RecordProperty("rel_abs", std::to_string(worst_abs));
}

TEST_P(RoundTrip, ZeroAndConstantRows) {
    const DType t = GetParam().type;
    const int64_t n = 512;
    for (float v : {0.0f, 0.75f, -3.0f}) {
        std::vector<float> x(static_cast<size_t>(n), v);
        std::vector<uint8_t> q = row_buffer(t, n);
        quantize_row_ref(t, x.data(), q.data(), n);
        std::vector<float> y(static_cast<size_t>(n));
        dequantize_row_ref(t, q.data(), y.data(), n);
        for (int64_t i = 0; i < n; ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << dtype_name(t) << " v=" << v;
            if (v == 0.0f) {
                ASSERT_EQ(y[i], 0.0f) << dtype_name(t);
            }
            // A constant row is one value per block; every type represents it within
            // 1/64 of its magnitude (Q2_K's 2-bit grid with 4-bit scales is the coarsest).
            ASSERT_NEAR(y[i], v, std::fabs(v) / 64 + 1e-6) << dtype_name(t) << " v=" << v;
        }
    }
}

// Bounds for the quantized types are about 1.5x the worst values these rows give
// (measured rel_rms / rel_abs in the comments; the abs figures include the sigma = 1e-3
// rows, whose small scales are f16 subnormals). F16 and BF16 have the analytic bound of
// round to nearest: half an ulp, 2^-11 and 2^-8 of each element.
INSTANTIATE_TEST_SUITE_P(
    AllTypes, RoundTrip,
    testing::Values(RoundTripCase{DType::F16, 0x1p-11, 0x1p-11},  // 3.3e-4 / 3.8e-4
                    RoundTripCase{DType::BF16, 0x1p-8, 0x1p-8},   // 2.6e-3 / 3.4e-3
                    RoundTripCase{DType::Q4_0, 0.15, 0.17},       // 0.103 / 0.114
                    RoundTripCase{DType::Q4_1, 0.125, 0.095},     // 0.084 / 0.064
                    RoundTripCase{DType::Q5_0, 0.07, 0.08},       // 0.047 / 0.054
                    RoundTripCase{DType::Q5_1, 0.06, 0.047},      // 0.041 / 0.032
                    RoundTripCase{DType::Q8_0, 0.0087, 0.0063},   // 0.0058 / 0.0042
                    RoundTripCase{DType::Q8_1, 0.0087, 0.0063},   // 0.0058 / 0.0042
                    RoundTripCase{DType::Q2_K, 0.53, 0.46},       // 0.352 / 0.306
                    RoundTripCase{DType::Q3_K, 0.235, 0.26},      // 0.157 / 0.172
                    RoundTripCase{DType::Q4_K, 0.12, 0.10},       // 0.078 / 0.068
                    RoundTripCase{DType::Q5_K, 0.06, 0.062},      // 0.040 / 0.041
                    RoundTripCase{DType::Q6_K, 0.031, 0.04},      // 0.021 / 0.027
                    RoundTripCase{DType::Q8_K, 0.015, 0.006}),    // 0.0097 / 0.0039
    case_name);

// The activation formats carry sums that the dot products rely on.
TEST(ActivationSums, Q8_KBsumsAndQ8_1S) {
    std::mt19937 rng(9);
    const std::vector<float> x = gaussian_row(rng, 512, 2.0f);
    BlockQ8_K k[2];
    quantize_row_ref(DType::Q8_K, x.data(), k, 512);
    for (const auto& b : k) {
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b.qs[16 * j + l];
            EXPECT_EQ(b.bsums[j], sum);
        }
        EXPECT_EQ(*std::max_element(b.qs, b.qs + 256) == 127 ||
                      *std::min_element(b.qs, b.qs + 256) == -127,
                  true);
    }
    BlockQ8_1 q[16];
    quantize_row_ref(DType::Q8_1, x.data(), q, 512);
    for (const auto& b : q) {
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += b.qs[j];
        EXPECT_NEAR(f16_to_f32(b.s), f16_to_f32(b.d) * static_cast<float>(sum),
                    std::fabs(f16_to_f32(b.d) * static_cast<float>(sum)) * 2e-3 + 1e-6);
    }
}

// ======================================================================================
// vec_dot_ref
// ======================================================================================
// The weight row is quantized to t, the activation row to vec_dot_type(t); vec_dot_ref must
// equal the dot of the two dequantized rows up to float rounding, bounded by
// 1e-5 * sum |w'_i a'_i| (the integer parts are exact; what rounds is the per-block scale
// products and the float accumulation, over at most 4096 terms for the plain types).
// Separately, against the exact f32 dot of the original rows, the quantization error of
// both rows stays within a per-type bound relative to |w| |a|.

struct DotCase {
    DType type;
    double max_rel_to_f32;  // |dot - dot_f32| / (|w| |a|)
};

std::string dot_name(const testing::TestParamInfo<DotCase>& info) {
    return std::string(dtype_name(info.param.type));
}

class VecDot : public testing::TestWithParam<DotCase> {};

TEST_P(VecDot, MatchesDequantizedDot) {
    const DotCase c = GetParam();
    const DType at = vec_dot_type(c.type);
    std::mt19937 rng(1234);
    double worst = 0.0;
    for (int64_t n : {256, 768, 4096}) {
        for (int rep = 0; rep < 3; ++rep) {
            const std::vector<float> w = gaussian_row(rng, n, 0.05f);
            const std::vector<float> a = gaussian_row(rng, n, 3.0f);
            std::vector<uint8_t> wq = row_buffer(c.type, n), aq = row_buffer(at, n);
            quantize_row_ref(c.type, w.data(), wq.data(), n);
            quantize_row_ref(at, a.data(), aq.data(), n);
            std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
            dequantize_row_ref(c.type, wq.data(), wd.data(), n);
            dequantize_row_ref(at, aq.data(), ad.data(), n);
            double ref = 0, mag = 0, exact = 0, nw = 0, na = 0;
            for (size_t i = 0; i < wd.size(); ++i) {
                ref += static_cast<double>(wd[i]) * ad[i];
                mag += std::fabs(static_cast<double>(wd[i]) * ad[i]);
                exact += static_cast<double>(w[i]) * a[i];
                nw += static_cast<double>(w[i]) * w[i];
                na += static_cast<double>(a[i]) * a[i];
            }
            const float got = vec_dot_ref(c.type, n, wq.data(), aq.data());
            EXPECT_NEAR(got, ref, 1e-5 * mag) << dtype_name(c.type) << " n=" << n;
            const double rel = std::fabs(got - exact) / std::sqrt(nw * na);
            EXPECT_LE(rel, c.max_rel_to_f32) << dtype_name(c.type) << " n=" << n;
            worst = std::max(worst, rel);
        }
    }
    RecordProperty("rel_to_f32", std::to_string(worst));
}

// Against the f32 dot of random rows the error is a random variable with standard deviation
// about sqrt(rel_rms(w)^2 + rel_rms(a)^2) / sqrt(n); the bounds are 4 such sigmas at n = 256
// (measured worst of these 9 rows in the comments).
INSTANTIATE_TEST_SUITE_P(AllTypes, VecDot,
                         testing::Values(DotCase{DType::F32, 1e-6},     // 0
                                         DotCase{DType::F16, 8e-5},     // 1.8e-5
                                         DotCase{DType::BF16, 6.4e-4},  // 2.1e-4
                                         DotCase{DType::Q4_0, 0.025},   // 0.0057
                                         DotCase{DType::Q4_1, 0.021},   // 0.0092
                                         DotCase{DType::Q5_0, 0.012},   // 0.0034
                                         DotCase{DType::Q5_1, 0.010},   // 0.0035
                                         DotCase{DType::Q8_0, 0.0021},  // 0.00075
                                         DotCase{DType::Q2_K, 0.088},   // 0.026
                                         DotCase{DType::Q3_K, 0.040},   // 0.012
                                         DotCase{DType::Q4_K, 0.020},   // 0.0054
                                         DotCase{DType::Q5_K, 0.0103},  // 0.0012
                                         DotCase{DType::Q6_K, 0.0058}), // 0.0015
                         dot_name);

// Q8_0 activations are exactly llama.cpp's quantize_row_q8_0 output, so a hand-computed
// block dot must agree exactly in the integer part.
TEST(VecDotExact, Q8_0TimesQ8_0) {
    BlockQ8_0 w{}, a{};
    w.d = kHalf;
    a.d = kQuarter;
    int64_t sumi = 0;
    for (int j = 0; j < 32; ++j) {
        w.qs[j] = static_cast<int8_t>(j * 7 % 255 - 127);
        a.qs[j] = static_cast<int8_t>(127 - j * 5);
        sumi += w.qs[j] * a.qs[j];
    }
    EXPECT_EQ(vec_dot_ref(DType::Q8_0, 32, &w, &a), static_cast<float>(sumi) * 0.125f);
}

// ======================================================================================
// Byte identity with llama.cpp's quantize tool
// ======================================================================================
// For each quantized (or F16) tensor of a synth-tiny-<TYPE>.gguf, quantize the same tensor
// of synth-tiny-F32.gguf row by row and compare the bytes. F32 tensors (norms) are copies.
// Every tensor of every file matches, the K-quants included (Q2_K..Q6_K from the _M mixes);
// a mismatch is a regression in a scale search or in the float operation order (an FMA
// contraction, say), not noise to be bounded.

struct FileResult {
    std::map<DType, int> tensors;       // compared tensors per type
    std::map<DType, int> mismatched;    // tensors with any differing byte
    std::map<DType, int64_t> bad_blocks, all_blocks;
    std::map<DType, std::string> first_mismatch;  // "tensor row r block b"
};

FileResult compare_with_llama_cpp(const GgufFile& f32_file, const GgufFile& q_file) {
    FileResult r;
    for (const GgufTensorInfo& qt : q_file.tensors()) {
        if (qt.dtype == DType::F32) continue;
        const GgufTensorInfo* src = f32_file.find_tensor(qt.name);
        EXPECT_NE(src, nullptr) << qt.name;
        if (src == nullptr) continue;
        EXPECT_EQ(src->dtype, DType::F32) << qt.name;
        EXPECT_EQ(src->ne, qt.ne) << qt.name;
        const int64_t n_per_row = qt.ne[0];
        const int64_t n_rows = qt.ne[1] * qt.ne[2] * qt.ne[3];
        const size_t rb = row_bytes(qt.dtype, n_per_row).value();
        EXPECT_EQ(rb * static_cast<size_t>(n_rows), qt.n_bytes) << qt.name;
        if (rb * static_cast<size_t>(n_rows) != qt.n_bytes) continue;
        const auto& ti = info(qt.dtype);
        std::vector<uint8_t> mine(rb);
        bool bad = false;
        for (int64_t row = 0; row < n_rows; ++row) {
            const float* x = static_cast<const float*>(src->data) + row * n_per_row;
            quantize_row_ref(qt.dtype, x, mine.data(), n_per_row);
            const uint8_t* theirs =
                static_cast<const uint8_t*>(qt.data) + static_cast<size_t>(row) * rb;
            const int64_t nblocks = n_per_row / ti.block_size;
            for (int64_t b = 0; b < nblocks; ++b) {
                const size_t off = static_cast<size_t>(b) * ti.type_size;
                r.all_blocks[qt.dtype]++;
                if (std::memcmp(mine.data() + off, theirs + off, ti.type_size) != 0) {
                    r.bad_blocks[qt.dtype]++;
                    if (!r.first_mismatch.count(qt.dtype)) {
                        r.first_mismatch[qt.dtype] = qt.name + " row " + std::to_string(row) +
                                                     " block " + std::to_string(b);
                    }
                    bad = true;
                }
            }
        }
        r.tensors[qt.dtype]++;
        if (bad) r.mismatched[qt.dtype]++;
    }
    return r;
}

class ByteIdentity : public testing::TestWithParam<const char*> {};

TEST_P(ByteIdentity, MatchesLlamaCppQuantize) {
    LLAMUX_FIXTURE(f32_path, "models/synth/synth-tiny-F32.gguf");
    const std::string rel = std::string("models/synth/synth-tiny-") + GetParam() + ".gguf";
    LLAMUX_FIXTURE(q_path, rel);
    const GgufFile f32_file = GgufFile::open(f32_path.string());
    const GgufFile q_file = GgufFile::open(q_path.string());
    const FileResult r = compare_with_llama_cpp(f32_file, q_file);
    ASSERT_FALSE(r.tensors.empty());
    for (const auto& [type, count] : r.tensors) {
        const int bad = r.mismatched.count(type) ? r.mismatched.at(type) : 0;
        const int64_t bad_blocks = r.bad_blocks.count(type) ? r.bad_blocks.at(type) : 0;
        std::printf("  %-12s %-5s %3d tensors, %7lld blocks, %lld differ\n", GetParam(),
                    std::string(dtype_name(type)).c_str(), count,
                    static_cast<long long>(r.all_blocks.at(type)),
                    static_cast<long long>(bad_blocks));
        EXPECT_EQ(bad, 0) << GetParam() << ": " << bad << " of " << count << " "
                          << dtype_name(type) << " tensors differ from llama.cpp ("
                          << bad_blocks << " of " << r.all_blocks.at(type)
                          << " blocks); first: "
                          << (bad ? r.first_mismatch.at(type) : std::string());
    }
}

INSTANTIATE_TEST_SUITE_P(SynthTiny, ByteIdentity,
                         testing::Values("F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q6_K",
                                         "Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K"),
                         [](const testing::TestParamInfo<const char*>& p) {
                             return std::string(p.param);
                         });

}  // namespace
}  // namespace llamux
