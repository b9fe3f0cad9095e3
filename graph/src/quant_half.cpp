// Half-float conversions (IEEE binary16 and bfloat16) and the plain-float dot products.
// Conversions are exact in the widening direction and round to nearest even in the
// narrowing one, with NaN, infinity and subnormals handled as IEEE 754 (and x86 F16C) do.
#include "quant_fp_strict.hpp"  // first: no FMA contraction in this file

#include <bit>
#include <cstdint>

#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"

namespace llamux {

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float f16_to_f32(f16_bits h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits = 0;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);  // inf, or NaN with its payload
    } else if (exp != 0) {
        bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;  // signed zero
    } else {
        // Subnormal: mant * 2^-24. Shift the leading 1 up to the implicit-bit position,
        // lowering the exponent once per shift, from that of 2^-14 (f32 field 113).
        uint32_t e = 127 - 14;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
    }
    return std::bit_cast<float>(bits);
}

f16_bits f32_to_f16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7FFFFFFFu;
    const uint32_t exp = abs >> 23;  // f32 biased exponent
    const uint32_t mant = abs & 0x7FFFFFu;

    if (abs > 0x7F800000u) {
        // NaN: keep the top payload bits and force the quiet bit, as F16C does.
        return static_cast<f16_bits>(sign | 0x7E00u | (mant >> 13));
    }
    if (exp >= 127 + 16) {
        return static_cast<f16_bits>(sign | 0x7C00u);  // |f| >= 65536 (or inf): inf
    }
    if (exp >= 127 - 14) {
        // Normal range of binary16. Drop 13 mantissa bits with round-half-to-even; a carry
        // out of the mantissa bumps the exponent, and past 65504 it reaches inf (0x7C00).
        uint32_t h = ((exp - (127 - 15)) << 10) | (mant >> 13);
        const uint32_t rest = mant & 0x1FFFu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
        return static_cast<f16_bits>(sign | h);
    }
    // Subnormal binary16 (or zero): the result counts units of 2^-24. The value is
    // (mant | 2^23) * 2^(exp - 150), i.e. (mant | 2^23) >> (126 - exp) units.
    const uint32_t shift = 126 - exp;  // >= 14 here
    if (shift > 24) return static_cast<f16_bits>(sign);  // below half of 2^-24: zero
    const uint32_t full = mant | 0x800000u;
    uint32_t h = full >> shift;
    const uint32_t rest = full & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u))) ++h;  // may carry into the smallest normal
    return static_cast<f16_bits>(sign | h);
}

// bfloat16 is the upper half of an f32, so widening is a shift.
float bf16_to_f32(bf16_bits h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

bf16_bits f32_to_bf16(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
        return static_cast<bf16_bits>((x >> 16) | 0x0040u);  // NaN: truncate, force quiet
    }
    // Round half to even on the dropped 16 bits; overflow carries into inf correctly, and
    // subnormals round like any other value.
    const uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
    return static_cast<bf16_bits>((x + rounding) >> 16);
}

// sum_i w[i] * a[i], accumulated in float in index order.
float f32_dot_ref(const float* w, const float* a, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += w[i] * a[i];
    return sum;
}

// Each product is formed in float from exactly widened halves; accumulated in float.
float f16_dot_ref(const f16_bits* w, const f16_bits* a, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += f16_to_f32(w[i]) * f16_to_f32(a[i]);
    return sum;
}

float bf16_dot_ref(const bf16_bits* w, const bf16_bits* a, int64_t n) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(w[i]) * bf16_to_f32(a[i]);
    return sum;
}

}  // namespace llamux
