// Dequantization of the K-quant super-blocks (256 elements each): Q2_K, Q3_K, Q4_K, Q5_K,
// Q6_K and the activation format Q8_K. The quants come from quant_unpack.hpp (where each
// bit layout is described), the scales from quant_ref_detail.hpp; what is left here is
// each format's formula, with llama.cpp's float operation order.
#include "quant_fp_strict.hpp"  // first: no FMA contraction in this file

#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"
#include "quant_unpack.hpp"

namespace llamux {

// Q2_K (84 bytes / 256): 16 sub-blocks of 16, q in 0..3, scales[s] = scale | min << 4.
//   x = (d * scale) * q - dmin * min
void q2_k_dequantize_ref(const BlockQ2_K* b, float* x, int64_t nb) {
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        const float d = f16_to_f32(b[i].d);
        const float dmin = f16_to_f32(b[i].dmin);
        unpack::q2_k(b[i], q);
        for (int e = 0; e < kQK_K; ++e) {
            const uint8_t sc = b[i].scales[e / 16];
            const float dl = d * static_cast<float>(sc & 0xF);
            const float ml = dmin * static_cast<float>(sc >> 4);
            x[e] = dl * static_cast<float>(q[e]) - ml;
        }
    }
}

// Q3_K (110 bytes / 256): 16 sub-blocks of 16, q in -4..3, 6-bit signed scales.
//   x = (d * scale) * q
void q3_k_dequantize_ref(const BlockQ3_K* b, float* x, int64_t nb) {
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        const float d = f16_to_f32(b[i].d);
        unpack::q3_k(b[i], q);
        for (int e = 0; e < kQK_K; ++e) {
            const float dl = d * static_cast<float>(q3_k_scale(e / 16, b[i].scales));
            x[e] = dl * static_cast<float>(q[e]);
        }
    }
}

namespace {
// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min (k4_scale_min).
//   x = (d * scale) * q - dmin * min
template <typename Block>
void k4_dequantize(const Block& b, const int8_t* q, float* x) {
    const float d = f16_to_f32(b.d);
    const float dmin = f16_to_f32(b.dmin);
    for (int s = 0; s < 8; ++s) {
        const ScaleMin sm = k4_scale_min(s, b.scales);
        const float dl = d * static_cast<float>(sm.scale);
        const float ml = dmin * static_cast<float>(sm.min);
        for (int e = 32 * s; e < 32 * s + 32; ++e) x[e] = dl * static_cast<float>(q[e]) - ml;
    }
}
}  // namespace

// Q4_K (144 bytes / 256): q in 0..15.
void q4_k_dequantize_ref(const BlockQ4_K* b, float* x, int64_t nb) {
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        unpack::q4_k(b[i], q);
        k4_dequantize(b[i], q, x);
    }
}

// Q5_K (176 bytes / 256): q in 0..31.
void q5_k_dequantize_ref(const BlockQ5_K* b, float* x, int64_t nb) {
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        unpack::q5_k(b[i], q);
        k4_dequantize(b[i], q, x);
    }
}

// Q6_K (210 bytes / 256): 16 sub-blocks of 16, q in -32..31, int8 scales.
//   x = (d * scale) * q
void q6_k_dequantize_ref(const BlockQ6_K* b, float* x, int64_t nb) {
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        const float d = f16_to_f32(b[i].d);
        unpack::q6_k(b[i], q);
        for (int e = 0; e < kQK_K; ++e) {
            x[e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>(q[e]);
        }
    }
}

// Q8_K (292 bytes / 256): x = d * q with an f32 scale; bsums are not needed here.
void q8_k_dequantize_ref(const BlockQ8_K* b, float* x, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        for (int e = 0; e < kQK_K; ++e) x[e] = b[i].d * static_cast<float>(b[i].qs[e]);
    }
}

}  // namespace llamux
