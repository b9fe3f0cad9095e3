// Legitimate alternative numerics for the faulty_numerics test plugin: the ways other
// backends compute the ops (float activations instead of Q8, bf16 GEMMs, online softmax
// without half-precision rounding, powf angles, float sums, tanh-based silu). The
// conformance suite must accept every one of them: its bounds are limits of correct
// implementations, not of the reference's own rounding.
#include "numerics_variants.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "llamux/quant_ref.hpp"

namespace faulty {
namespace {

float* row_f32(const lmx_tensor& t, int64_t i1, int64_t i2 = 0) {
    return reinterpret_cast<float*>(static_cast<char*>(t.data) + static_cast<size_t>(i1) * t.nb[1] +
                                    static_cast<size_t>(i2) * t.nb[2]);
}
const void* row_any(const lmx_tensor& t, int64_t i1) {
    return static_cast<const char*>(t.data) + static_cast<size_t>(i1) * t.nb[1];
}
float bf16_round(float v) { return llamux::bf16_to_f32(llamux::f32_to_bf16(v)); }

// y = W x with the weight dequantized to float (optionally both operands rounded to bf16)
// and a serial float sum: what a dequantizing GEMM does.
void matmul(const lmx_node& node, bool bf16) {
    const lmx_tensor& w = *node.src[0];
    const lmx_tensor& x = *node.src[1];
    const int64_t K = w.ne[0], N = w.ne[1], M = x.ne[1] * x.ne[2] * x.ne[3];
    std::vector<float> wr(static_cast<size_t>(K));
    for (int64_t n = 0; n < N; ++n) {
        llamux::dequantize_row_ref(static_cast<llamux::DType>(w.dtype), row_any(w, n), wr.data(), K);
        if (bf16) {
            for (float& v : wr) v = bf16_round(v);
        }
        for (int64_t m = 0; m < M; ++m) {
            const float* xm = row_f32(x, m);
            float sum = 0.0f;
            for (int64_t k = 0; k < K; ++k) {
                sum += wr[static_cast<size_t>(k)] * (bf16 ? bf16_round(xm[k]) : xm[k]);
            }
            row_f32(*node.dst, m)[n] = sum;
        }
    }
}

// Causal GQA attention in float with an online (flash-attention style) softmax; q and the
// probabilities are never rounded to the cache type.
void attention(const lmx_node& node, const lmx_exec_args& args) {
    const lmx_tensor& q = *node.src[0];
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t hd = q.ne[0], n_head = q.ne[1], n_tok = q.ne[2], row = k.ne[0];
    const int64_t group = n_head / node.iparams[1];
    const float scale = node.fparams[0];
    const auto dt = static_cast<llamux::DType>(k.dtype);
    std::vector<float> kr(static_cast<size_t>(row)), vr(static_cast<size_t>(row));
    std::vector<float> acc(static_cast<size_t>(hd));
    for (int64_t t = 0; t < n_tok; ++t) {
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t off = (h / group) * hd;
            const float* qh = row_f32(q, h, t);
            float running_max = -INFINITY, denom = 0.0f;
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int64_t j = 0; j <= args.n_past + t; ++j) {
                llamux::dequantize_row_ref(dt, row_any(k, j), kr.data(), row);
                llamux::dequantize_row_ref(static_cast<llamux::DType>(v.dtype), row_any(v, j), vr.data(), row);
                float s = 0.0f;
                for (int64_t d = 0; d < hd; ++d) s += qh[d] * kr[static_cast<size_t>(off + d)];
                s *= scale;
                const float new_max = std::max(running_max, s);
                const float rescale = std::exp(running_max - new_max);
                const float p = std::exp(s - new_max);
                denom = denom * rescale + p;
                for (int64_t d = 0; d < hd; ++d) {
                    acc[static_cast<size_t>(d)] = acc[static_cast<size_t>(d)] * rescale + p * vr[static_cast<size_t>(off + d)];
                }
                running_max = new_max;
            }
            float* out = row_f32(*node.dst, t) + h * hd;
            for (int64_t d = 0; d < hd; ++d) out[d] = acc[static_cast<size_t>(d)] / denom;
        }
    }
}

// Angles from powf for every pair instead of ggml's repeated multiplication.
void rope(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const auto* pos = static_cast<const int32_t*>(node.src[1]->data);
    const int32_t n_rot = node.iparams[0];
    for (int64_t t = 0; t < x.ne[2]; ++t) {
        for (int64_t h = 0; h < x.ne[1]; ++h) {
            const float* src = row_f32(x, h, t);
            float* dst = row_f32(*node.dst, h, t);
            for (int32_t i = 0; 2 * i < n_rot; ++i) {
                const float theta = static_cast<float>(pos[t]) * node.fparams[1] *
                                    std::pow(node.fparams[0], -2.0f * static_cast<float>(i) / static_cast<float>(n_rot));
                const float c = std::cos(theta), s = std::sin(theta);
                const float x0 = src[2 * i], x1 = src[2 * i + 1];
                dst[2 * i] = x0 * c - x1 * s;
                dst[2 * i + 1] = x0 * s + x1 * c;
            }
            for (int64_t i = n_rot; i < x.ne[0]; ++i) dst[i] = src[i];
        }
    }
}

// The sum of squares in float, serially.
void rms_norm(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const auto* w = static_cast<const float*>(node.src[1]->data);
    const int64_t n = x.ne[0];
    for (int64_t r = 0; r < x.ne[1] * x.ne[2]; ++r) {
        const float* xr = row_f32(x, r % x.ne[1], r / x.ne[1]);
        float* y = row_f32(*node.dst, r % x.ne[1], r / x.ne[1]);
        float sum = 0.0f;
        for (int64_t i = 0; i < n; ++i) sum += xr[i] * xr[i];
        const float scale = 1.0f / std::sqrt(sum / static_cast<float>(n) + node.fparams[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = xr[i] * w[i] * scale;
    }
}

// silu(g) = g/2 (1 + tanh(g/2)).
void swiglu(const lmx_node& node) {
    const lmx_tensor& dst = *node.dst;
    for (int64_t r = 0; r < dst.ne[1] * dst.ne[2]; ++r) {
        const float* g = row_f32(*node.src[0], r % dst.ne[1], r / dst.ne[1]);
        const float* u = row_f32(*node.src[1], r % dst.ne[1], r / dst.ne[1]);
        float* y = row_f32(dst, r % dst.ne[1], r / dst.ne[1]);
        for (int64_t i = 0; i < dst.ne[0]; ++i) y[i] = 0.5f * g[i] * (1.0f + std::tanh(0.5f * g[i])) * u[i];
    }
}

}  // namespace

void apply_variant(const std::string& variant, const lmx_node& node, const lmx_exec_args& args) {
    if (node.op == LMX_OP_MATMUL && variant == "matmul_float_activations") matmul(node, false);
    if (node.op == LMX_OP_MATMUL && variant == "matmul_bf16") matmul(node, true);
    if (node.op == LMX_OP_ATTENTION && variant == "attention_online_softmax") attention(node, args);
    if (node.op == LMX_OP_ROPE && variant == "rope_powf") rope(node);
    if (node.op == LMX_OP_RMS_NORM && variant == "rms_norm_float_sum") rms_norm(node);
    if (node.op == LMX_OP_SWIGLU && variant == "swiglu_tanh") swiglu(node);
}

}  // namespace faulty
