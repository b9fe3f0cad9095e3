// Per-element error bounds of the conformance suite; the formulas and why they hold are in
// conformance.hpp. Every bound is computed in double from the case's host inputs.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "conformance_internal.hpp"

namespace llamux::conformance {
namespace {

constexpr double kEps = FLT_EPSILON;     // 2^-23
constexpr double kUnit = kEps / 2;       // unit roundoff of float, 2^-24
constexpr double kFloor = 1e-30;         // below any value the cases produce
constexpr double kF16Slack = 1.0 / 1024; // 2^-10: rounding to f16 done or not, any mode
constexpr double kBf16Slack = 1.0 / 128; // 2^-7: the same for bf16
// Independent rounding errors e_k with |e_k| <= b_k sum to more than 6 sqrt(sum b_k^2) with
// probability below 2 exp(-18) = 3e-8 (Hoeffding).
constexpr double kSigmas = 6.0;

// The relative slack of storing a float as a cache type (0 for F32).
double half_slack(int32_t dtype) {
    if (dtype == LMX_TYPE_F16) return kF16Slack;
    if (dtype == LMX_TYPE_BF16) return kBf16Slack;
    return 0.0;
}

int64_t n_elements(const lmx_tensor& t) { return t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]; }

std::vector<double> get_rows_bounds(const lmx_node& node, const std::vector<float>& expected) {
    std::vector<double> b(expected.size(), 0.0);
    const auto ti = dtype_info(node.src[0]->dtype);
    if (!ti || !ti->quantized) return b;  // float tables: a conversion, exact
    const auto n = static_cast<size_t>(node.dst->ne[0]);
    for (size_t r = 0; r * n < expected.size(); ++r) {
        double amax = 0.0;
        for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(double(expected[r * n + i])));
        std::fill(b.begin() + std::ptrdiff_t(r * n), b.begin() + std::ptrdiff_t((r + 1) * n),
                  16.0 * kEps * amax);
    }
    return b;
}

std::vector<double> rms_norm_bounds(const lmx_node& node, const std::vector<float>& expected) {
    const double n = static_cast<double>(node.src[0]->ne[0]);
    const double rel = (2.0 * std::sqrt(n) + 8.0) * kEps;
    std::vector<double> b(expected.size());
    for (size_t i = 0; i < b.size(); ++i) b[i] = rel * std::fabs(double(expected[i])) + kFloor;
    return b;
}

std::vector<double> swiglu_bounds(const lmx_node& node, const std::vector<float>& expected) {
    const std::vector<float> g = to_floats(*node.src[0]);
    const std::vector<float> u = to_floats(*node.src[1]);
    std::vector<double> b(expected.size());
    for (size_t i = 0; i < b.size(); ++i) {
        b[i] = 32.0 * kEps * std::fabs(double(expected[i])) +
               4.0 * kEps * std::fabs(double(g[i]) * double(u[i])) + kFloor;
    }
    return b;
}

std::vector<double> matmul_bounds(const lmx_node& node) {
    const lmx_tensor& wt = *node.src[0];  // [K, N]
    const lmx_tensor& xt = *node.src[1];  // [K, M]
    const int64_t K = wt.ne[0], N = wt.ne[1];
    const int64_t M = xt.ne[1] * xt.ne[2] * xt.ne[3];
    const std::vector<float> w = to_floats(wt);
    const std::vector<float> x = to_floats(xt);
    const auto wtype = static_cast<DType>(wt.dtype);
    const bool quantized = info(wtype).quantized;
    const double tau = quantized ? kBf16Slack : half_slack(wt.dtype);
    const double gamma = 2.0 * static_cast<double>(K) * kUnit;
    const int64_t block = quantized ? info(vec_dot_type(wtype)).block_size : 1;

    std::vector<double> b(static_cast<size_t>(N * M));
    std::vector<double> step(static_cast<size_t>(K), 0.0);  // one Q8 step of x_k
    for (int64_t m = 0; m < M; ++m) {
        const float* xm = x.data() + m * K;
        if (quantized) {
            for (int64_t k0 = 0; k0 < K; k0 += block) {
                double amax = 0.0;
                for (int64_t k = k0; k < k0 + block; ++k) amax = std::max(amax, std::fabs(double(xm[k])));
                std::fill(step.begin() + k0, step.begin() + k0 + block, amax / 127.0);
            }
        }
        for (int64_t n = 0; n < N; ++n) {
            const float* wn = w.data() + n * K;
            double abs_sum = 0.0, squares = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const double wx = double(wn[k]) * double(xm[k]);
                const double act = std::fabs(double(wn[k])) * step[static_cast<size_t>(k)];
                abs_sum += std::fabs(wx);
                squares += act * act + tau * tau * wx * wx;
            }
            b[static_cast<size_t>(m * N + n)] = gamma * abs_sum + kSigmas * std::sqrt(squares) + kFloor;
        }
    }
    return b;
}

std::vector<double> rope_bounds(const lmx_node& node) {
    const lmx_tensor& xt = *node.src[0];  // [head_dim, n_head, n_tok]
    const std::vector<float> x = to_floats(xt);
    const auto* positions = static_cast<const int32_t*>(node.src[1]->data);
    const int64_t head_dim = xt.ne[0], n_head = xt.ne[1], n_tok = xt.ne[2];
    const int32_t n_rot = node.iparams[0];
    const double base = node.fparams[0], scale = std::fabs(double(node.fparams[1]));
    std::vector<double> b(x.size(), 0.0);
    for (int64_t t = 0; t < n_tok; ++t) {
        const double p = std::fabs(static_cast<double>(positions[t])) * scale;
        for (int64_t h = 0; h < n_head; ++h) {
            const size_t row = static_cast<size_t>((t * n_head + h) * head_dim);
            for (int32_t i = 0; 2 * i < n_rot; ++i) {
                const double theta = p * std::pow(base, -2.0 * i / n_rot);
                const double mag = std::fabs(double(x[row + 2 * size_t(i)])) +
                                   std::fabs(double(x[row + 2 * size_t(i) + 1]));
                const double e = mag * ((i + 4) * kEps * theta + 8.0 * kEps) + kFloor;
                b[row + 2 * size_t(i)] = e;
                b[row + 2 * size_t(i) + 1] = e;
            }
        }
    }
    return b;
}

// max over keys j of sum over q's blocks of (block amax / 254) * sum |k_j| over the block:
// how far quantizing q to Q8_0 can move a q.k dot.
double q8_0_dot_slack(const float* qh, const float* k, int64_t row, int64_t off, int64_t head_dim, int64_t n_kv) {
    double worst = 0.0;
    for (int64_t j = 0; j < n_kv; ++j) {
        double slack = 0.0;
        for (int64_t b = 0; b + 32 <= head_dim; b += 32) {
            double amax = 0.0, ksum = 0.0;
            for (int64_t d = b; d < b + 32; ++d) {
                amax = std::max(amax, std::fabs(double(qh[d])));
                ksum += std::fabs(double(k[size_t(j * row + off + d)]));
            }
            slack += amax / 254.0 * ksum;
        }
        worst = std::max(worst, slack);
    }
    return 1.01 * worst;
}

std::vector<double> attention_bounds(const lmx_node& node, const lmx_exec_args& args) {
    const lmx_tensor& qt = *node.src[0];  // [head_dim, n_head, n_tok]
    const lmx_tensor& kt = *node.src[1];  // [head_dim * n_head_kv, n_ctx]
    const lmx_tensor& vt = *node.src[2];
    const std::vector<float> q = to_floats(qt), k = to_floats(kt), v = to_floats(vt);
    const int64_t head_dim = qt.ne[0], n_head = qt.ne[1], n_tok = qt.ne[2];
    const int64_t row = kt.ne[0];
    const int64_t group = n_head / node.iparams[1];
    const double scale = std::fabs(double(node.fparams[0]));
    const double tau_q = half_slack(kt.dtype), tau_p = half_slack(vt.dtype);
    const double gamma_hd = 2.0 * static_cast<double>(head_dim) * kUnit;

    std::vector<double> b(static_cast<size_t>(head_dim * n_head * n_tok));
    for (int64_t t = 0; t < n_tok; ++t) {
        const int64_t n_kv = args.n_past + t + 1;
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t off = (h / group) * head_dim;
            const float* qh = q.data() + (t * n_head + h) * head_dim;
            double max_qk = 0.0;
            for (int64_t j = 0; j < n_kv; ++j) {
                double s = 0.0;
                for (int64_t d = 0; d < head_dim; ++d) {
                    s += std::fabs(double(qh[d]) * double(k[size_t(j * row + off + d)]));
                }
                max_qk = std::max(max_qk, s);
            }
            double dS = scale * (gamma_hd + tau_q) * max_qk + 4.0 * kEps;
            // A quantized key cache: q is quantized to Q8_0 for the dot (llama.cpp's
            // vec_dot_type of every cache block type), each value off by at most its block's
            // amax / 254; a backend may keep q as it is.
            if (info(static_cast<DType>(kt.dtype)).quantized) {
                dS += scale * q8_0_dot_slack(qh, k.data(), row, off, head_dim, n_kv);
            }
            const double rel = 2.5 * dS + tau_p + static_cast<double>(n_kv + 8) * kEps;
            for (int64_t d = 0; d < head_dim; ++d) {
                double vmax = 0.0;
                for (int64_t j = 0; j < n_kv; ++j) {
                    vmax = std::max(vmax, std::fabs(double(v[size_t(j * row + off + d)])));
                }
                b[size_t(t * n_head * head_dim + h * head_dim + d)] = rel * vmax + kFloor;
            }
        }
    }
    return b;
}

}  // namespace

std::vector<double> element_bounds(const lmx_node& node, const lmx_exec_args& args,
                                   const std::vector<float>& expected) {
    switch (node.op) {
        case LMX_OP_GET_ROWS: return get_rows_bounds(node, expected);
        case LMX_OP_RMS_NORM: return rms_norm_bounds(node, expected);
        case LMX_OP_MATMUL: return matmul_bounds(node);
        case LMX_OP_ROPE: return rope_bounds(node);
        case LMX_OP_ATTENTION: return attention_bounds(node, args);
        case LMX_OP_SWIGLU: return swiglu_bounds(node, expected);
        default:  // add, copy, kv_store: exact
            return std::vector<double>(static_cast<size_t>(n_elements(*node.dst)), 0.0);
    }
}

}  // namespace llamux::conformance
