// The 32-element block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1: dequantize, quantize
// (llama.cpp's quantize_row_*_ref, bit for bit) and the integer dot product with Q8_0
// activations.
//
// Element order in a block of 32 (all types): element j < 16 sits in the low nibble of
// qs[j], element j + 16 in the high nibble of qs[j]. For the 5-bit types bit i of the
// little-endian 32-bit word qh is the 5th bit of element i. Q8_0/Q8_1 store qs[j] = q_j.
#include "quant_fp_strict.hpp"  // first: no FMA contraction in this file

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"
#include "quant_unpack.hpp"

namespace llamux {
namespace {

constexpr int kQK = 32;  // every format in this file

void store_qh(uint8_t (&qh)[4], uint32_t v) { std::memcpy(qh, &v, sizeof v); }

// Largest |v| of a block, and the signed value that has it (the first one on ties).
struct SignedMax {
    float amax = 0.0f;
    float max = 0.0f;
};
SignedMax signed_max(const float* x) {
    SignedMax m;
    for (int j = 0; j < kQK; ++j) {
        if (m.amax < std::fabs(x[j])) {
            m.amax = std::fabs(x[j]);
            m.max = x[j];
        }
    }
    return m;
}

struct MinMax {
    float min;
    float max;
};
MinMax min_max(const float* x) {
    MinMax m{std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()};
    for (int j = 0; j < kQK; ++j) {
        if (x[j] < m.min) m.min = x[j];
        if (x[j] > m.max) m.max = x[j];
    }
    return m;
}

float amax_of(const float* x) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    return amax;
}

}  // namespace

// ---- dequantize ----------------------------------------------------------------------

// Q4_0 (18 bytes / 32): x = d * (q - 8), q in 0..15.
void q4_0_dequantize_ref(const BlockQ4_0* b, float* x, int64_t nb) {
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        unpack::q4_0(b[i], q);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(q[j]) * d;
    }
}

// Q4_1 (20 bytes / 32): x = d * q + m, q in 0..15.
void q4_1_dequantize_ref(const BlockQ4_1* b, float* x, int64_t nb) {
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        const float m = f16_to_f32(b[i].m);
        unpack::q4_1(b[i], q);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(q[j]) * d + m;
    }
}

// Q5_0 (22 bytes / 32): x = d * (q - 16), q in 0..31.
void q5_0_dequantize_ref(const BlockQ5_0* b, float* x, int64_t nb) {
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        unpack::q5_0(b[i], q);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(q[j]) * d;
    }
}

// Q5_1 (24 bytes / 32): x = d * q + m, q in 0..31.
void q5_1_dequantize_ref(const BlockQ5_1* b, float* x, int64_t nb) {
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        const float m = f16_to_f32(b[i].m);
        unpack::q5_1(b[i], q);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(q[j]) * d + m;
    }
}

// Q8_0 (34 bytes / 32): x = d * q, q in -127..127.
void q8_0_dequantize_ref(const BlockQ8_0* b, float* x, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(b[i].qs[j]) * d;
    }
}

// Q8_1 (36 bytes / 32): x = d * q; s (= d * sum q) is not needed.
void q8_1_dequantize_ref(const BlockQ8_1* b, float* x, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = f16_to_f32(b[i].d);
        for (int j = 0; j < kQK; ++j) x[j] = static_cast<float>(b[i].qs[j]) * d;
    }
}

// ---- quantize ------------------------------------------------------------------------
// The conversions below mirror llama.cpp's float arithmetic and its truncating casts
// (int8_t)(v + 8.5f) etc.: they round half up, not to even, and that is what its files hold.

// Q4_0: d = max / -8 where max is the signed value of largest magnitude, so that value
// maps to q = 0 exactly and the other end of the range gets 15 (one step short of -max).
void q4_0_quantize_ref(const float* x, BlockQ4_0* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const SignedMax m = signed_max(x);
        const float d = m.max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < 16; ++j) {
            const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
            const int q1 = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
            b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

// Q4_1: d = (max - min) / 15, m = min; q = round-half-up((x - min) / d), at most 15.
void q4_1_quantize_ref(const float* x, BlockQ4_1* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const MinMax mm = min_max(x);
        const float d = (mm.max - mm.min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        b[i].m = f32_to_f16(mm.min);
        for (int j = 0; j < 16; ++j) {
            const int q0 = std::min(15, static_cast<int>((x[j] - mm.min) * id + 0.5f));
            const int q1 = std::min(15, static_cast<int>((x[j + 16] - mm.min) * id + 0.5f));
            b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
    }
}

// Q5_0: as Q4_0 with d = max / -16 and q in 0..31 (5th bits into qh).
void q5_0_quantize_ref(const float* x, BlockQ5_0* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const SignedMax m = signed_max(x);
        const float d = m.max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const int q0 = std::min(31, static_cast<int>(x[j] * id + 16.5f));
            const int q1 = std::min(31, static_cast<int>(x[j + 16] * id + 16.5f));
            b[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
            qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

// Q5_1: as Q4_1 with d = (max - min) / 31. llama.cpp does not clamp here; (x - min) * id
// cannot exceed 31.5 for finite input, so truncation keeps q in 0..31.
void q5_1_quantize_ref(const float* x, BlockQ5_1* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const MinMax mm = min_max(x);
        const float d = (mm.max - mm.min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        b[i].m = f32_to_f16(mm.min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const int q0 = static_cast<int>((x[j] - mm.min) * id + 0.5f) & 0xFF;
            const int q1 = static_cast<int>((x[j + 16] - mm.min) * id + 0.5f) & 0xFF;
            b[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
            qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + 16);
        }
        store_qh(b[i].qh, qh);
    }
}

// Q8_0: d = amax / 127, q = round-half-away-from-zero(x / d) (C roundf).
void q8_0_quantize_ref(const float* x, BlockQ8_0* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = amax_of(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    }
}

// Q8_0 activations, as llama.cpp's x86 quantize_row_q8_0 does it: id = 127 / amax and
// round half to even (vs 1 / d and roundf above; they differ on exact ties).
void q8_0_quantize_activation_ref(const float* x, BlockQ8_0* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float amax = amax_of(x);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = f32_to_f16(amax / 127.0f);
        for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    }
}

// Q8_1: as Q8_0, plus s = f16(d * sum q) with d the unrounded f32 scale.
void q8_1_quantize_ref(const float* x, BlockQ8_1* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK) {
        const float d = amax_of(x) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < kQK; ++j) {
            b[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
            sum += b[i].qs[j];
        }
        b[i].s = f32_to_f16(static_cast<float>(sum) * d);
    }
}

// ---- dot products with Q8_0 activations ----------------------------------------------
// Per block: an exact integer dot of the quants, scaled once by d_w * d_a. For the types
// with a min (Q4_1, Q5_1) the min term is m_w * d_a * sum(q_a), since
// sum_j (d_w q_j + m_w) d_a a_j = d_w d_a sum_j q_j a_j + m_w d_a sum_j a_j.
// (llama.cpp takes sum(q_a) from a Q8_1 block's f16 field s; we use Q8_0 for every legacy
// type and compute it exactly, so results differ from llama.cpp's in the last bits.)

namespace {

int sum_of(const int8_t* q) {
    int s = 0;
    for (int j = 0; j < kQK; ++j) s += q[j];
    return s;
}

// Symmetric types: sum_i d_w d_a (q_w . q_a).
template <typename Block, typename Unpack>
float symmetric_dot(const Block* w, const BlockQ8_0* a, int64_t nb, Unpack unpack_block) {
    float sum = 0.0f;
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        unpack_block(w[i], q);
        const int sumi = unpack::dot_i8(q, a[i].qs, kQK);
        sum += static_cast<float>(sumi) * f16_to_f32(w[i].d) * f16_to_f32(a[i].d);
    }
    return sum;
}

// Types with a min: sum_i d_w d_a (q_w . q_a) + m_w d_a sum(q_a).
template <typename Block, typename Unpack>
float offset_dot(const Block* w, const BlockQ8_0* a, int64_t nb, Unpack unpack_block) {
    float sum = 0.0f;
    int8_t q[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        unpack_block(w[i], q);
        const int sumi = unpack::dot_i8(q, a[i].qs, kQK);
        const float da = f16_to_f32(a[i].d);
        sum += f16_to_f32(w[i].d) * da * static_cast<float>(sumi) +
               f16_to_f32(w[i].m) * da * static_cast<float>(sum_of(a[i].qs));
    }
    return sum;
}

}  // namespace

float q4_0_dot_ref(const BlockQ4_0* w, const BlockQ8_0* a, int64_t nb) {
    return symmetric_dot(w, a, nb, unpack::q4_0);
}

float q4_1_dot_ref(const BlockQ4_1* w, const BlockQ8_0* a, int64_t nb) {
    return offset_dot(w, a, nb, unpack::q4_1);
}

float q5_0_dot_ref(const BlockQ5_0* w, const BlockQ8_0* a, int64_t nb) {
    return symmetric_dot(w, a, nb, unpack::q5_0);
}

float q5_1_dot_ref(const BlockQ5_1* w, const BlockQ8_0* a, int64_t nb) {
    return offset_dot(w, a, nb, unpack::q5_1);
}

float q8_0_dot_ref(const BlockQ8_0* w, const BlockQ8_0* a, int64_t nb) {
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const int sumi = unpack::dot_i8(w[i].qs, a[i].qs, kQK);
        sum += static_cast<float>(sumi) * (f16_to_f32(w[i].d) * f16_to_f32(a[i].d));
    }
    return sum;
}

}  // namespace llamux
