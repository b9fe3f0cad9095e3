// swiglu: y = silu(g) * u, the gate of Llama's feed-forward block.
#include <cmath>

#include "example_backend.hpp"

namespace example {

void swiglu_f32(float* y, const float* g, const float* u, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float silu = g[i] / (1.0f + std::exp(-g[i]));
        y[i] = silu * u[i];
    }
}

}  // namespace example
