// Rotary embedding ("normal" mode, adjacent pairs) on the pool: the (token, head) rows cut
// into chunks; a chunk builds the angle table of each token it reaches.
// Same arithmetic, in the same order, as the reference (ggml_rope_cache_init): bit-identical.
#include <cmath>

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

constexpr int64_t kMinParallelElements = 16 * 1024;

// cos_sin[2i], cos_sin[2i+1] = cos, sin of pair i's angle at position p.
void angles(int32_t p, int32_t n_rot, float theta_scale, float freq_scale, float* cos_sin) {
    float theta_extrap = static_cast<float>(p);
    for (int32_t i = 0; i < n_rot; i += 2) {
        const float theta = freq_scale * theta_extrap;
        cos_sin[i] = std::cos(theta);
        cos_sin[i + 1] = std::sin(theta);
        theta_extrap *= theta_scale;
    }
}

}  // namespace

bool plan_rope(const lmx_node& node, size_t* per_thread_bytes, bool* parallel) {
    *per_thread_bytes = static_cast<size_t>(node.iparams[0]) * sizeof(float);
    *parallel = n_elements(*node.src[0]) >= kMinParallelElements;
    return true;
}

lmx_status exec_rope(const CompiledNode& step, const ExecContext& ctx) {
    const lmx_node& node = *step.node;
    const lmx_tensor& x = *node.src[0];  // [head_dim, n_head, n_tok]
    const lmx_tensor& dst = *node.dst;
    const auto* positions = static_cast<const int32_t*>(node.src[1]->data);  // [n_tok]
    const int64_t head_dim = x.ne[0], n_head = x.ne[1], n_tok = x.ne[2];
    const int32_t n_rot = node.iparams[0];
    const float freq_scale = node.fparams[1];
    const float theta_scale = std::pow(node.fparams[0], -2.0f / static_cast<float>(n_rot));

    const int64_t n_chunks = ctx.chunk_count(step.parallel, n_tok * n_head, 4);
    ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int slot) {
        auto* cos_sin = reinterpret_cast<float*>(ctx.scratch.thread(slot));  // [n_rot]
        const auto [r0, r1] = chunk_range(n_tok * n_head, chunk, n_chunks);
        int64_t have = -1;  // token whose angles are in cos_sin
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t t = r / n_head, h = r % n_head;
            if (t != have) {
                angles(positions[t], n_rot, theta_scale, freq_scale, cos_sin);
                have = t;
            }
            const auto* src = reinterpret_cast<const float*>(row_ptr(x, h, t));  // [head_dim]
            auto* out = reinterpret_cast<float*>(row_ptr(dst, h, t));
            for (int32_t i = 0; i < n_rot; i += 2) {
                const float c = cos_sin[i], s = cos_sin[i + 1];
                const float x0 = src[i], x1 = src[i + 1];
                out[i] = x0 * c - x1 * s;
                out[i + 1] = x0 * s + x1 * c;
            }
            for (int64_t i = n_rot; i < head_dim; ++i) out[i] = src[i];
        }
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
