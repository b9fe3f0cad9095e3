// Quantization of the K-quant super-blocks (256 elements), reproducing llama.cpp's
// reference quantizers (quantize_row_qN_K_ref: no importance matrix) bit for bit.
//
// Every routine has the same two steps:
//   1. per sub-block, a search for the scale (and min) with the least weighted error
//      (make_qkx2_quants, make_q3_quants, make_qx_quants below);
//   2. those float scales are themselves quantized to 4, 6 or 8 bits against one f16
//      super-scale, and every element is quantized again against the scale as stored, so
//      the quants fit the rounded scales.
// Byte identity depends on doing the float arithmetic in llama.cpp's order, with its
// rounding (nearest_int: half to even) and its integer conversions; comments flag where
// an expression's order or a narrowing cast matters. quant_fp_strict.hpp turns off FMA
// contraction; -ffast-math (reassociation) would break identity too and must not be used.
#include "quant_fp_strict.hpp"  // first: no FMA contraction in this file

#include <algorithm>
#include <cmath>
#include <cstring>

#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"

namespace llamux {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero

// Largest |x[i]|, and the signed x[i] that has it (first on ties).
struct SignedMax {
    float amax = 0.0f;
    float max = 0.0f;
};
SignedMax signed_max(int n, const float* x) {
    SignedMax m;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > m.amax) {
            m.amax = ax;
            m.max = x[i];
        }
    }
    return m;
}

// Symmetric quants q in [-nmax, nmax) for x[0..n), weights w = x^2, stored as L = q + nmax.
// Starts from the scale that maps the largest-magnitude value to -nmax, then tries 18
// nearby scales -(nmax + 0.1 is) / max and keeps the one with the best weighted
// least-squares fit. Returns the fitted scale (x ~ scale * q). llama.cpp: make_qx_quants
// with rmse_type 1 and no importance weights.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    const SignedMax m = signed_max(n, x);
    if (m.amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.0f;
    }
    const float fmax = static_cast<float>(nmax);
    auto clamp_q = [nmax](int l) { return std::max(-nmax, std::min(nmax - 1, l)); };

    float iscale = -fmax / m.max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_q(nearest_int(iscale * x[i]));
        L[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        const float fl = static_cast<float>(l);
        sumlx += w * x[i] * fl;  // (w * x) * l
        suml2 += w * fl * fl;    // (w * l) * l
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(fmax + 0.1f * static_cast<float>(is)) / m.max;
        sumlx = 0.0f;
        suml2 = 0.0f;
        for (int i = 0; i < n; ++i) {
            const float fl = static_cast<float>(clamp_q(nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * fl;
            suml2 += w * fl * fl;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                L[i] = static_cast<int8_t>(nmax + clamp_q(nearest_int(iscale * x[i])));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Symmetric quants for Q3_K's sub-blocks: q in [-nmax, nmax), L = q + nmax, weights x^2.
// Starts like make_qx_quants, then up to 5 sweeps of coordinate descent: each element in
// turn is moved to the quant that would be optimal for the fit of the others, if that
// raises sumlx^2 / suml2 (i.e. lowers the weighted error). llama.cpp: make_q3_quants with
// do_rmse = true.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    const SignedMax m = signed_max(n, x);
    if (m.amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t{0});
        return 0.0f;
    }
    auto clamp_q = [nmax](int l) { return std::max(-nmax, std::min(nmax - 1, l)); };
    const float iscale = -static_cast<float>(nmax) / m.max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_q(nearest_int(iscale * x[i]));
        L[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * static_cast<float>(l);
        suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            const float li = static_cast<float>(L[i]);
            float slx = sumlx - w * x[i] * li;
            if (slx > 0.0f) {
                float sl2 = suml2 - w * li * li;
                const int new_l = clamp_q(nearest_int(x[i] * sl2 / slx));  // (x * sl2) / slx
                if (new_l != L[i]) {
                    const float fl = static_cast<float>(new_l);
                    slx += w * x[i] * fl;
                    sl2 += w * fl * fl;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = static_cast<int8_t>(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (n_changed == 0) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric quants q in [0, nmax] with x ~ scale * q - the_min (the_min >= 0), weighted
// by `weights`. Starts from min(x, 0)..max(x); then for nstep + 1 trial inverse scales
// (rmin + rdelta * is + nmax) / (max - min) quantizes, solves the weighted least squares for
// scale and min given those quants, and keeps the best (squared or absolute error). As in
// llama.cpp, `min` is updated to each improving fit and the later trials use it.
// llama.cpp: make_qkx2_quants.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        std::fill(L, L + n, uint8_t{0});
        *the_min = -min;
        return 0.0f;
    }
    const float fnmax = static_cast<float>(nmax);
    auto error_of = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };

    float iscale = fnmax / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
        const float diff = scale * static_cast<float>(L[i]) + min - x[i];  // (s*L + min) - x
        best_error += weights[i] * error_of(diff);
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * static_cast<float>(is) + fnmax) / (max - min);
        float sum_l = 0.0f;
        float sum_l2 = 0.0f;
        float sum_xl = 0.0f;
        for (int i = 0; i < n; ++i) {
            const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            const float fl = static_cast<float>(l);
            sum_l += w * fl;
            sum_l2 += w * fl * fl;    // (w * l) * l
            sum_xl += w * fl * x[i];  // (w * l) * x
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; ++i) {
                const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
                cur_error += weights[i] * error_of(diff);
            }
            if (cur_error < best_error) {
                std::copy(Laux, Laux + n, L);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Packs 2-bit values L[0..256) into qs[0..64): element e -> byte 32 (e / 128) + e % 32,
// bits 2 ((e % 128) / 32). Shared by Q2_K and Q3_K.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t* g = L + 128 * h + l;
            qs[32 * h + l] =
                static_cast<uint8_t>(g[0] | (g[32] << 2) | (g[64] << 4) | (g[96] << 6));
        }
    }
}

// Packs 6-bit scales and mins of 8 sub-blocks into Q4_K/Q5_K's 12 bytes (see k4_scale_min).
void pack_k4_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* packed) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            packed[j - 4] = static_cast<uint8_t>(packed[j - 4] | ((ls[j] >> 4) << 6));
            packed[j] = static_cast<uint8_t>(packed[j] | ((lm[j] >> 4) << 6));
        }
    }
}

// Steps 1 and 2 of Q4_K and Q5_K (they differ in nmax and search range): fills scales,
// d, dmin and L[0..256) with q in 0..nmax.
template <typename Block>
void quantize_k4_scales(const float* x, Block& b, uint8_t* L, int nmax, float rmin,
                        float rdelta, int nstep) {
    float scales[8];
    float mins[8];
    float weights[32];
    uint8_t Laux[32];
    float max_scale = 0.0f;  // scales are >= 0, as the min is taken out
    float max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = make_qkx2_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, rmin,
                                     rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8];
    uint8_t lm[8];
    for (int j = 0; j < 8; ++j) {
        // llama.cpp stores nearest_int into a uint8_t before clamping to 63: keep the wrap.
        ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_k4_scales(ls, lm, b.scales);
    b.d = f32_to_f16(max_scale / 63.0f);
    b.dmin = f32_to_f16(max_min / 63.0f);

    // Requantize against the stored scales.
    for (int j = 0; j < 8; ++j) {
        const ScaleMin sm = k4_scale_min(j, b.scales);
        const float d = f16_to_f32(b.d) * static_cast<float>(sm.scale);
        if (d == 0.0f) continue;
        const float dm = f16_to_f32(b.dmin) * static_cast<float>(sm.min);
        for (int l = 0; l < 32; ++l) {
            const int q = nearest_int((x[32 * j + l] + dm) / d);
            L[32 * j + l] = static_cast<uint8_t>(std::max(0, std::min(nmax, q)));
        }
    }
}

}  // namespace

// Q2_K: 16 sub-blocks of 16, q in 0..3, weights |x|, mean-absolute-error search
// (rmin -0.5, rdelta 0.1, 16 trials). Scales and mins to 4 bits against d = max_scale / 15
// and dmin = max_min / 15.
void q2_k_quantize_ref(const float* x, BlockQ2_K* b, int64_t nb) {
    constexpr float kQ4Scale = 15.0f;
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        uint8_t Laux[16];
        float weights[16];
        float scales[16];
        float mins[16];
        float max_scale = 0.0f;
        float max_min = 0.0f;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        BlockQ2_K& y = b[i];
        if (max_scale > 0.0f) {
            const float iscale = kQ4Scale / max_scale;
            for (int j = 0; j < 16; ++j) {
                y.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
            }
            y.d = f32_to_f16(max_scale / kQ4Scale);
        } else {
            std::fill(y.scales, y.scales + 16, uint8_t{0});
            y.d = f32_to_f16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = kQ4Scale / max_min;
            for (int j = 0; j < 16; ++j) {
                const int l = nearest_int(iscale * mins[j]);
                y.scales[j] = static_cast<uint8_t>(y.scales[j] | (l << 4));
            }
            y.dmin = f32_to_f16(max_min / kQ4Scale);
        } else {
            y.dmin = f32_to_f16(0.0f);
        }
        // Requantize against the stored scales; a sub-block whose scale rounded to zero
        // keeps the quants of its search.
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(y.d) * static_cast<float>(y.scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = f16_to_f32(y.dmin) * static_cast<float>(y.scales[j] >> 4);
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int((x[16 * j + l] + dm) / d);
                L[16 * j + l] = static_cast<uint8_t>(std::max(0, std::min(3, q)));
            }
        }
        pack_2bit(L, y.qs);
    }
}

// Q3_K: 16 sub-blocks of 16, signed q in -4..3 from make_q3_quants. Scales to 6 bits signed
// against d = max_scale / -32 (max_scale: the signed scale of largest magnitude).
void q3_k_quantize_ref(const float* x, BlockQ3_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0.0f;
        float amax = 0.0f;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float a = std::fabs(scales[j]);
            if (a > amax) {
                amax = a;
                max_scale = scales[j];
            }
        }
        BlockQ3_K& y = b[i];
        std::memset(y.scales, 0, sizeof y.scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; ++j) {
                // As llama.cpp: nearest_int lands in an int8_t, then clamps to -32..31.
                const int8_t r = static_cast<int8_t>(nearest_int(iscale * scales[j]));
                const int l = std::max(-32, std::min(31, static_cast<int>(r))) + 32;  // 0..63
                if (j < 8) {
                    y.scales[j] = static_cast<uint8_t>(l & 0xF);
                } else {
                    y.scales[j - 8] = static_cast<uint8_t>(y.scales[j - 8] | ((l & 0xF) << 4));
                }
                y.scales[8 + j % 4] =
                    static_cast<uint8_t>(y.scales[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
            }
            y.d = f32_to_f16(1.0f / iscale);
        } else {
            y.d = f32_to_f16(0.0f);
        }
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(y.d) * static_cast<float>(q3_k_scale(j, y.scales));
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = static_cast<int8_t>(std::max(-4, std::min(3, q)) + 4);
            }
        }
        // L is now 0..7: bit 2 goes to hmask (bit e / 32 of byte e % 32), bits 0..1 to qs.
        std::memset(y.hmask, 0, sizeof y.hmask);
        uint8_t low[kQK_K];
        for (int e = 0; e < kQK_K; ++e) {
            if (L[e] > 3) y.hmask[e % 32] = static_cast<uint8_t>(y.hmask[e % 32] | (1 << (e / 32)));
            low[e] = static_cast<uint8_t>(L[e] & 3);
        }
        pack_2bit(low, y.qs);
    }
}

// Q4_K: 8 sub-blocks of 32, q in 0..15, weights av|x| + |x|, squared-error search
// (rmin -1, rdelta 0.1, 21 trials). Element e -> qs[32 (e / 64) + e % 32], low nibble for
// the first 32 of each 64, high nibble for the next 32.
void q4_k_quantize_ref(const float* x, BlockQ4_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        quantize_k4_scales(x, b[i], L, 15, -1.0f, 0.1f, 20);
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * c + l];
                const int hi = L[64 * c + l + 32];
                b[i].qs[32 * c + l] = static_cast<uint8_t>(lo | (hi << 4));
            }
        }
    }
}

// Q5_K: as Q4_K with q in 0..31 (rmin -0.5, rdelta 0.1, 16 trials); the 5th bit of element
// e goes to bit e / 32 of qh[e % 32].
void q5_k_quantize_ref(const float* x, BlockQ5_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        uint8_t L[kQK_K];
        quantize_k4_scales(x, b[i], L, 31, -0.5f, 0.1f, 15);
        std::memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < kQK_K; ++e) {
            if (L[e] > 15) {
                b[i].qh[e % 32] = static_cast<uint8_t>(b[i].qh[e % 32] | (1 << (e / 32)));
            }
        }
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[64 * c + l] & 0xF;
                const int hi = L[64 * c + l + 32] & 0xF;
                b[i].qs[32 * c + l] = static_cast<uint8_t>(lo | (hi << 4));
            }
        }
    }
}

// Q6_K: 16 sub-blocks of 16, q in -32..31 from make_qx_quants; int8 scales against
// d = max_scale / -128. An all-(near-)zero super-block is stored as zeros.
// Element e (h = e / 128, p = (e % 128) / 32, l = e % 32): low nibble of q + 32 in
// ql[64h + l + 32 (p & 1)] (low half for p < 2, high half else), top 2 bits in
// qh[32h + l] at bits 2p.
void q6_k_quantize_ref(const float* x, BlockQ6_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        int8_t L[kQK_K];
        float scales[16];
        float max_scale = 0.0f;
        float max_abs_scale = 0.0f;
        for (int j = 0; j < 16; ++j) {
            scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j);
            const float a = std::fabs(scales[j]);
            if (a > max_abs_scale) {
                max_abs_scale = a;
                max_scale = scales[j];
            }
        }
        BlockQ6_K& y = b[i];
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&y, 0, sizeof y);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y.d = f32_to_f16(1.0f / iscale);
        for (int j = 0; j < 16; ++j) {
            y.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
        }
        for (int j = 0; j < 16; ++j) {
            const float d = f16_to_f32(y.d) * static_cast<float>(y.scales[j]);
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l) {
                const int q = nearest_int(x[16 * j + l] / d);
                L[16 * j + l] = static_cast<int8_t>(std::max(-32, std::min(31, q)) + 32);
            }
        }
        std::memset(y.ql, 0, sizeof y.ql);
        std::memset(y.qh, 0, sizeof y.qh);
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128;
            const int p = (e % 128) / 32;
            const int l = e % 32;
            const int q = L[e];  // 0..63
            uint8_t& lbyte = y.ql[64 * h + l + 32 * (p & 1)];
            lbyte = static_cast<uint8_t>(lbyte | ((q & 0xF) << (p < 2 ? 0 : 4)));
            uint8_t& hbyte = y.qh[32 * h + l];
            hbyte = static_cast<uint8_t>(hbyte | ((q >> 4) << (2 * p)));
        }
    }
}

// Q8_K: q = nearest_int(-127 / max * x) (half to even), at most 127, with max the signed
// value of largest magnitude; d = 1 / that factor; bsums[k] = sum of q over elements
// 16k..16k+15. An all-zero block is stored as zeros (llama.cpp leaves its bsums unset).
void q8_k_quantize_ref(const float* x, BlockQ8_K* b, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        const SignedMax m = signed_max(kQK_K, x);
        BlockQ8_K& y = b[i];
        if (m.amax == 0.0f) {
            std::memset(&y, 0, sizeof y);
            continue;
        }
        const float iscale = -127.0f / m.max;
        for (int e = 0; e < kQK_K; ++e) {
            y.qs[e] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[e])));
        }
        for (int k = 0; k < kQK_K / 16; ++k) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += y.qs[16 * k + l];
            y.bsums[k] = static_cast<int16_t>(sum);
        }
        y.d = 1.0f / iscale;
    }
}

}  // namespace llamux
