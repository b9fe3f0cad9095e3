// The ops oneDNN 2.6 has no primitive for, in plain C++ on host memory, parallel over rows
// with the OpenMP threads set by ThreadScope. Numerics as the reference (ops_ref*.cpp):
// rms_norm sums squares in double; rope builds its angles as ggml_rope_cache_init does.
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include "onednn_backend.hpp"

namespace llamux::onednn {
namespace {

// Row (i1, i2, i3) of t.
inline std::byte* row_ptr(const lmx_tensor& t, int64_t i1, int64_t i2 = 0, int64_t i3 = 0) {
    return static_cast<std::byte*>(t.data) + static_cast<size_t>(i1) * t.nb[1] +
           static_cast<size_t>(i2) * t.nb[2] + static_cast<size_t>(i3) * t.nb[3];
}

// Row r in flattened (i1 fastest) order, as float.
inline float* f32_row(const lmx_tensor& t, int64_t r) {
    const int64_t i1 = r % t.ne[1];
    const int64_t i2 = (r / t.ne[1]) % t.ne[2];
    const int64_t i3 = r / (t.ne[1] * t.ne[2]);
    return reinterpret_cast<float*>(row_ptr(t, i1, i2, i3));
}

}  // namespace

// dst[n, rows] = x / sqrt(mean(x^2) + eps) * w[n]
void run_rms_norm(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    const auto* w = static_cast<const float*>(node.src[1]->data);  // [n]
    const float eps = node.fparams[0];
    const int64_t n = x.ne[0];
    const int64_t rows = x.ne[1] * x.ne[2] * x.ne[3];
#pragma omp parallel for schedule(static) if (rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = f32_row(x, r);
        float* yr = f32_row(dst, r);
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
        const auto mean = static_cast<float>(sum / static_cast<double>(n));
        const float scale = 1.0f / std::sqrt(mean + eps);
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
    }
}

// x[head_dim, n_head, n_tok] rotated pairwise by position; dims >= n_rot copied.
void run_rope(const lmx_node& node) {
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    const auto* positions = static_cast<const int32_t*>(node.src[1]->data);  // [n_tok]
    const int64_t head_dim = x.ne[0], n_head = x.ne[1], n_tok = x.ne[2];
    const int32_t n_rot = node.iparams[0];
    const float freq_scale = node.fparams[1];
    const float theta_scale = std::pow(node.fparams[0], -2.0f / static_cast<float>(n_rot));
#pragma omp parallel if (n_tok > 1)
    {
        std::vector<float> cos_sin(static_cast<size_t>(n_rot));  // [cos, sin] per pair
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tok; ++t) {
            float theta_extrap = static_cast<float>(positions[t]);
            for (int32_t i = 0; i < n_rot; i += 2) {
                const float theta = freq_scale * theta_extrap;
                cos_sin[static_cast<size_t>(i)] = std::cos(theta);
                cos_sin[static_cast<size_t>(i) + 1] = std::sin(theta);
                theta_extrap *= theta_scale;
            }
            for (int64_t h = 0; h < n_head; ++h) {
                const auto* src = reinterpret_cast<const float*>(row_ptr(x, h, t));
                auto* out = reinterpret_cast<float*>(row_ptr(dst, h, t));
                for (int32_t i = 0; i < n_rot; i += 2) {
                    const float c = cos_sin[static_cast<size_t>(i)];
                    const float s = cos_sin[static_cast<size_t>(i) + 1];
                    const float x0 = src[i], x1 = src[i + 1];
                    out[i] = x0 * c - x1 * s;
                    out[i + 1] = x0 * s + x1 * c;
                }
                for (int64_t i = n_rot; i < head_dim; ++i) out[i] = src[i];
            }
        }
    }
}

}  // namespace llamux::onednn
