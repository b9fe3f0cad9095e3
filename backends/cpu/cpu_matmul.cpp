// Matmul dst[N, M] = W[K, N] x[K, M] on the pool, as the reference defines it: each column
// of x converted once to the weight's vec_dot_type, each output element one dot product of a
// weight row with a converted column.
//
//  - Conversion: columns split across threads, into the backend's shared scratch (sized by
//    compile). Consecutive matmuls of one input (q/k/v, gate/up) convert it once.
//  - M == 1 (generation): a GEMV, output rows cut into chunks (about four per thread, taken
//    from the pool's shared counter), vec_dot per row.
//  - M > 1 (prompt): work items of panel_rows weight rows x panel_cols columns, one chunk
//    each; inside an item, 4x4 tiles (tile kernel: 4 weight rows loaded once for 4
//    columns). A panel's weight rows stay in L2 while its columns stream past.
// Every element is computed by one thread, by a tile whose corner is at a multiple of 4 in
// both directions, whatever the thread count: results do not depend on the number of threads.
#include <algorithm>

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"

namespace llamux::cpu {
namespace {

constexpr size_t kPanelBytes = 128 * 1024;       // weight rows of one work item, at most
constexpr size_t kColumnBytes = 128 * 1024;      // converted columns of one work item, at most
constexpr double kMinParallelMacs = 256.0 * 1024;  // below this one thread is faster
constexpr size_t kActAlign = 64;
constexpr int64_t kMinGemvRows = 16;              // rows of one GEMV chunk, at least

int64_t clamp4(int64_t v, int64_t lo, int64_t hi) { return std::clamp(v / 4 * 4, lo, hi); }

bool same_view(const lmx_tensor& a, const lmx_tensor& b) {
    if (a.data != b.data || a.dtype != b.dtype) return false;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k] || a.nb[k] != b.nb[k]) return false;
    }
    return true;
}

}  // namespace

bool plan_matmul(const lmx_node& node, const CompiledNode* previous, int n_threads, Isa isa,
                 MatmulPlan* plan, size_t* shared_bytes, bool* parallel) {
    const lmx_tensor& w = *node.src[0];  // [K, N]
    const lmx_tensor& x = *node.src[1];  // [K, M] F32
    const lmx_tensor& dst = *node.dst;   // [N, M] F32
    if (x.ne[2] != 1 || x.ne[3] != 1) return false;  // batched x: the reference
    if (dst.nb[1] % sizeof(float) != 0) return false;
    const auto wt = static_cast<DType>(w.dtype);
    const TypeKernels* k = kernels_for(wt, isa);
    if (!k || k->activation != vec_dot_type(wt)) return false;
    const auto w_row = row_bytes(wt, w.ne[0]);
    const auto a_row = row_bytes(k->activation, w.ne[0]);
    if (!w_row || !a_row) return false;

    plan->kernels = k;
    plan->K = w.ne[0];
    plan->N = w.ne[1];
    plan->M = x.ne[1];
    plan->act_stride = 0;
    plan->reuse_act = false;
    *shared_bytes = 0;
    if (k->from_float) {
        plan->act_stride = (*a_row + kActAlign - 1) / kActAlign * kActAlign;
        *shared_bytes = plan->act_stride * static_cast<size_t>(plan->M);
        if (previous && previous->exec == Exec::Matmul) {
            const MatmulPlan& p = previous->matmul;
            plan->reuse_act = p.kernels->from_float == k->from_float &&
                              p.kernels->activation == k->activation &&
                              p.act_stride == plan->act_stride &&
                              same_view(*previous->node->src[1], x) &&
                              !overlaps(*previous->node->dst, x);
        }
    }

    // Blocking of the tiled product: a panel of weight rows that fits L2 beside a block of
    // columns; smaller panels when there would be too few items to keep every thread busy.
    const size_t col_bytes = plan->act_stride ? plan->act_stride : *a_row;
    plan->panel_rows = clamp4(static_cast<int64_t>(kPanelBytes / *w_row), 4, 128);
    plan->panel_cols = clamp4(static_cast<int64_t>(kColumnBytes / col_bytes), 4, 64);
    const int64_t col_blocks = (plan->M + plan->panel_cols - 1) / plan->panel_cols;
    while (plan->panel_rows > 4 &&
           (plan->N + plan->panel_rows - 1) / plan->panel_rows * col_blocks < 4 * n_threads) {
        plan->panel_rows = std::max<int64_t>(4, plan->panel_rows / 2 / 4 * 4);
    }
    *parallel = n_threads > 1 && static_cast<double>(plan->K) * static_cast<double>(plan->N) *
                                         static_cast<double>(plan->M) >=
                                     kMinParallelMacs;
    return true;
}

// Never fails: a later matmul may rely on the columns this one converted (reuse_act).
lmx_status exec_matmul(const CompiledNode& step, const ExecContext& ctx) {
    const MatmulPlan& p = step.matmul;
    const TypeKernels& k = *p.kernels;
    const lmx_tensor& w = *step.node->src[0];
    const lmx_tensor& x = *step.node->src[1];
    const lmx_tensor& dst = *step.node->dst;
    const int64_t K = p.K, N = p.N, M = p.M;

    const std::byte* act = static_cast<const std::byte*>(x.data);
    size_t a_stride = x.nb[1];
    if (k.from_float) {
        std::byte* converted = ctx.scratch.shared();
        act = converted;
        a_stride = p.act_stride;
        if (!p.reuse_act) {
            const int64_t n_chunks = ctx.chunk_count(step.parallel, M, 1);
            ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
                const auto [c0, c1] = chunk_range(M, chunk, n_chunks);
                for (int64_t c = c0; c < c1; ++c) {
                    k.from_float(reinterpret_cast<const float*>(row_ptr(x, c)),
                                 converted + static_cast<size_t>(c) * a_stride, K);
                }
            });
        }
    }

    const auto* wdata = static_cast<const std::byte*>(w.data);
    const size_t w_stride = w.nb[1];
    auto* y = static_cast<float*>(dst.data);
    const size_t ldd = dst.nb[1] / sizeof(float);

    if (M == 1) {
        const int64_t n_chunks = ctx.chunk_count(step.parallel, N, kMinGemvRows);
        ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
            const auto [r0, r1] = chunk_range(N, chunk, n_chunks, 4);
            for (int64_t r = r0; r < r1; ++r) {
                y[r] = k.vec_dot(K, wdata + static_cast<size_t>(r) * w_stride, act);
            }
        });
        return LMX_OK;
    }

    const int64_t n_panels = (N + p.panel_rows - 1) / p.panel_rows;
    const int64_t n_blocks = (M + p.panel_cols - 1) / p.panel_cols;
    ctx.chunks(step.parallel, n_panels * n_blocks, [&](int64_t item, int) {
        const int64_t r0 = item / n_blocks * p.panel_rows;
        const int64_t r1 = std::min(N, r0 + p.panel_rows);
        const int64_t c0 = item % n_blocks * p.panel_cols;
        const int64_t c1 = std::min(M, c0 + p.panel_cols);
        for (int64_t r = r0; r < r1; r += 4) {
            const int nr = static_cast<int>(std::min<int64_t>(4, r1 - r));
            for (int64_t c = c0; c < c1; c += 4) {
                const int nc = static_cast<int>(std::min<int64_t>(4, c1 - c));
                k.tile(K, wdata + static_cast<size_t>(r) * w_stride, w_stride,
                       act + static_cast<size_t>(c) * a_stride, a_stride,
                       y + static_cast<size_t>(c) * ldd + static_cast<size_t>(r), ldd, nr, nc);
            }
        }
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
