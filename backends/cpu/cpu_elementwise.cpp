// The F32 binary ops swiglu (silu(a) * b) and add (a + b) on the pool. Contiguous operands
// are one array cut into chunks (a single token's row too); strided ones are
// cut by rows. The reference's arithmetic, element by element: bit-identical to it.
#include <cmath>

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

bool all_contiguous(const lmx_node& node) {
    return is_contiguous(*node.src[0]) && is_contiguous(*node.src[1]) && is_contiguous(*node.dst);
}

// y[i] = f(a[i], b[i]) over the node's elements.
template <typename F>
void binary(const CompiledNode& step, const ExecContext& ctx, F f) {
    const lmx_tensor& a = *step.node->src[0];
    const lmx_tensor& b = *step.node->src[1];
    const lmx_tensor& y = *step.node->dst;
    if (all_contiguous(*step.node)) {
        const auto* pa = static_cast<const float*>(a.data);
        const auto* pb = static_cast<const float*>(b.data);
        auto* py = static_cast<float*>(y.data);
        const int64_t n_chunks = ctx.chunk_count(step.parallel, n_elements(y), 1024);
        ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
            const auto [i0, i1] = chunk_range(n_elements(y), chunk, n_chunks, 16);
            for (int64_t i = i0; i < i1; ++i) py[i] = f(pa[i], pb[i]);
        });
        return;
    }
    const int64_t n = y.ne[0];
    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_rows(y), 1);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
        const auto [r0, r1] = chunk_range(n_rows(y), chunk, n_chunks);
        for (int64_t r = r0; r < r1; ++r) {
            const float* ra = f32_row(a, r);
            const float* rb = f32_row(b, r);
            float* ry = f32_row(y, r);
            for (int64_t i = 0; i < n; ++i) ry[i] = f(ra[i], rb[i]);
        }
    });
}

}  // namespace

bool plan_swiglu(const lmx_node& node, bool* parallel) {
    *parallel = n_elements(*node.dst) >= 2 * 1024;
    return true;
}

lmx_status exec_swiglu(const CompiledNode& step, const ExecContext& ctx) {
    binary(step, ctx, [](float g, float u) { return g / (1.0f + std::exp(-g)) * u; });
    return LMX_OK;
}

bool plan_add(const lmx_node& node, bool* parallel) {
    *parallel = n_elements(*node.dst) >= 64 * 1024;
    return true;
}

lmx_status exec_add(const CompiledNode& step, const ExecContext& ctx) {
    binary(step, ctx, [](float a, float b) { return a + b; });
    return LMX_OK;
}

}  // namespace llamux::cpu
