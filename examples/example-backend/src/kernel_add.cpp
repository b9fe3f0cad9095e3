// add: y = a + b, element by element.
#include "example_backend.hpp"

namespace example {

void add_f32(float* y, const float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

}  // namespace example
