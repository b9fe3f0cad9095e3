// RMS norm on the pool, rows cut into chunks; the reference's arithmetic
// (squares in float summed in double, scale then weight), so bit-identical to it.
#include <cmath>

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {

bool plan_rms_norm(const lmx_node& node, bool* parallel) {
    *parallel = n_rows(*node.src[0]) > 1 && n_elements(*node.src[0]) >= 16 * 1024;
    return true;
}

lmx_status exec_rms_norm(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_node& node = *step.node;
    const lmx_tensor& x = *node.src[0];
    const float* w = static_cast<const float*>(node.src[1]->data);  // [n]
    const float eps = node.fparams[0];
    const int64_t n = x.ne[0];
    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_rows(x), 1);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
        const auto [r0, r1] = chunk_range(n_rows(x), chunk, n_chunks);
        for (int64_t r = r0; r < r1; ++r) {
            const float* xr = f32_row(x, r);
            float* yr = f32_row(*node.dst, r);
            double sum = 0.0;
            for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
            const auto mean = static_cast<float>(sum / static_cast<double>(n));
            const float scale = 1.0f / std::sqrt(mean + eps);
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
        }
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
