// Dot products of K-quant weight rows with Q8_K activation rows, as llama.cpp's scalar
// ggml_vec_dot_qN_K_q8_K: per super-block, exact integer dots per sub-block times the
// sub-block's integer scale, then one float multiply by d_w * d_a. The min terms of the
// asymmetric types use the activation's bsums (sums of q_a per 16 elements):
//   sum_e (d sc q_e - dmin m) d_a a_e = d d_a sum_sub sc (q . a) - dmin d_a sum_sub m sum(a)
// Bit layouts: quant_unpack.hpp. The float steps differ from llama.cpp's (it keeps 8
// partial sums), so results agree with its CPU path to rounding, not bit for bit.
#include "quant_fp_strict.hpp"  // first: no FMA contraction in this file

#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"
#include "quant_unpack.hpp"

namespace llamux {

// Q2_K x Q8_K: 16 sub-blocks of 16; scale sc & 15, min sc >> 4, q in 0..3.
float q2_k_dot_ref(const BlockQ2_K* w, const BlockQ8_K* a, int64_t nb) {
    float sum = 0.0f;
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i) {
        unpack::q2_k(w[i], q);
        int isum = 0;   // sum over sub-blocks of scale * (q_w . q_a)
        int summs = 0;  // sum over sub-blocks of min * sum(q_a)
        for (int s = 0; s < 16; ++s) {
            const uint8_t sc = w[i].scales[s];
            isum += (sc & 0xF) * unpack::dot_i8(q + 16 * s, a[i].qs + 16 * s, 16);
            summs += (sc >> 4) * a[i].bsums[s];
        }
        const float dall = a[i].d * f16_to_f32(w[i].d);
        const float dmin = a[i].d * f16_to_f32(w[i].dmin);
        sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    return sum;
}

// Q3_K x Q8_K: 16 sub-blocks of 16, signed 6-bit scales, q in -4..3 (no min term).
float q3_k_dot_ref(const BlockQ3_K* w, const BlockQ8_K* a, int64_t nb) {
    float sum = 0.0f;
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i) {
        unpack::q3_k(w[i], q);
        int isum = 0;
        for (int s = 0; s < 16; ++s) {
            isum += q3_k_scale(s, w[i].scales) * unpack::dot_i8(q + 16 * s, a[i].qs + 16 * s, 16);
        }
        sum += f16_to_f32(w[i].d) * a[i].d * static_cast<float>(isum);
    }
    return sum;
}

namespace {

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min; q = the unpacked quants.
template <typename Block>
float k4_dot(const Block& w, const int8_t* q, const BlockQ8_K& a) {
    int isum = 0;
    int summs = 0;
    for (int s = 0; s < 8; ++s) {
        const ScaleMin sm = k4_scale_min(s, w.scales);
        isum += sm.scale * unpack::dot_i8(q + 32 * s, a.qs + 32 * s, 32);
        summs += sm.min * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
    }
    const float d = f16_to_f32(w.d) * a.d;
    const float dmin = f16_to_f32(w.dmin) * a.d;
    return d * static_cast<float>(isum) - dmin * static_cast<float>(summs);
}

}  // namespace

float q4_k_dot_ref(const BlockQ4_K* w, const BlockQ8_K* a, int64_t nb) {
    float sum = 0.0f;
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i) {
        unpack::q4_k(w[i], q);
        sum += k4_dot(w[i], q, a[i]);
    }
    return sum;
}

float q5_k_dot_ref(const BlockQ5_K* w, const BlockQ8_K* a, int64_t nb) {
    float sum = 0.0f;
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i) {
        unpack::q5_k(w[i], q);
        sum += k4_dot(w[i], q, a[i]);
    }
    return sum;
}

// Q6_K x Q8_K: 16 sub-blocks of 16, int8 scales, q in -32..31 (no min term).
float q6_k_dot_ref(const BlockQ6_K* w, const BlockQ8_K* a, int64_t nb) {
    float sum = 0.0f;
    int8_t q[kQK_K];
    for (int64_t i = 0; i < nb; ++i) {
        unpack::q6_k(w[i], q);
        int isum = 0;
        for (int s = 0; s < 16; ++s) {
            isum += w[i].scales[s] * unpack::dot_i8(q + 16 * s, a[i].qs + 16 * s, 16);
        }
        sum += f16_to_f32(w[i].d) * a[i].d * static_cast<float>(isum);
    }
    return sum;
}

}  // namespace llamux
