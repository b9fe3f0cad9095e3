// rms_norm: y = x / sqrt(mean(x^2) + eps) * w over one row.
//
// The sum of squares is accumulated in double and the mean rounded to float, as the
// reference (and llama.cpp's CPU backend) do, so this kernel gives the reference's bits.
#include <cmath>

#include "example_backend.hpp"

namespace example {

void rms_norm_f32(float* y, const float* x, const float* w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const auto mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

}  // namespace example
