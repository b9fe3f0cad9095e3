// Matmul dst[N, M] = W[K, N] x[K, M] on the pool, as the reference defines it: each column
// of x converted once to the weight's vec_dot_type, each output element one dot product of a
// weight row with a converted column.
//
//  - Conversion: columns split across threads, into the backend's shared scratch (sized by
//    compile). Consecutive matmuls of one input (q/k/v, gate/up) convert it once.
//  - M == 1 (generation): a GEMV, output rows cut into chunks (about four per thread, taken
//    from the pool's shared counter), vec_dot per row, rows from four parts of a chunk in
//    turn; or, for a weight the backend repacked (cpu_weights.cpp), the packed GEMV
//    over groups of kPackedRows rows (and its few-columns variant for batches the gemm does
//    not take, so a repacked weight's original is never read).
//  - M > 1 (prompt): work items of panel_rows weight rows x panel_cols columns, one chunk
//    each; inside an item, 4x4 tiles (tile kernel: 4 weight rows loaded once for 4
//    columns). A panel's weight rows stay in L2 while its columns stream past.
//  - M >= 16 with a block kernel (TypeKernels::gemm: AMX, or AVX2/AVX-512 block products): the converted columns are also
//    packed in groups of 16; an item's whole 16 x 16 blocks go to gemm, its edges (rows or
//    columns past the last whole block of the matrix) to the 4x4 tiles. On a repacked
//    weight (TypeKernels::packed_gemm) the gemm reads the repacked rows, and the converted
//    columns in place.
// Every element is computed by one thread, by a tile or block whose corner is at a multiple
// of its size in both directions, whatever the thread count: results do not depend on the
// number of threads.
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
// A core reads memory faster from several streams than from one, up to a count that depends
// on the core. On the Sapphire Rapids VM one GEMV thread walking 4 distant parts of its rows
// in turn was ~25% faster than one part (a Q4_K_M model); on a Zen 5 VM 4 parts were 25-35%
// slower than 2 (1.1B Q4_K_M tg128 on 2 threads: 53-54 against 64-77 t/s; on 1 thread 33.5
// against 44-48; docs/performance.md). AMD cores walk 2 parts, the others 4.
int gemv_streams() {
    static const int streams = detect_vendor() == CpuVendor::Amd ? 2 : 4;
    return streams;
}
// Packed columns of one gemm work item, at most, unless the kernel asks otherwise
// (GemmKernels::max_call_group_bytes): they are read once per 16 weight rows, from L2.
constexpr size_t kGemmColumnBytes = 1024 * 1024;
constexpr int64_t kGemmMaxPanelRows = 8 * kGemmBlock;

int64_t clamp4(int64_t v, int64_t lo, int64_t hi) { return std::clamp(v / 4 * 4, lo, hi); }
int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool same_view(const lmx_tensor& a, const lmx_tensor& b) {
    if (a.data != b.data || a.dtype != b.dtype) return false;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k] || a.nb[k] != b.nb[k]) return false;
    }
    return true;
}

// The matrix-unit variant of the blocking: packed groups after the converted columns; items
// of whole groups (as many columns as the kernel's budget holds, split evenly) and of up to
// kGemmMaxPanelRows rows, fewer when there would be too few items for the threads.
void plan_gemm(const CompiledNode* previous, int n_threads, MatmulPlan* plan,
               size_t* shared_bytes, size_t* per_thread_bytes) {
    const GemmKernels& g = plan->packed_gemm ? *plan->kernels->packed_gemm : *plan->kernels->gemm;
    plan->gemm = &g;
    plan->n_groups = plan->M / kGemmBlock;
    *per_thread_bytes = g.scratch_bytes(plan->K);
    if (!g.pack) {  // the kernel reads the converted columns in place
        plan->group_stride = kGemmBlock * plan->act_stride;
    } else {
        plan->group_stride = round_up(static_cast<int64_t>(g.group_bytes(plan->K)), kActAlign);
        plan->groups_offset = *shared_bytes;
        *shared_bytes += plan->group_stride * static_cast<size_t>(plan->n_groups);
    }
    if (g.pack && plan->reuse_act && previous->matmul.gemm) {
        const MatmulPlan& p = previous->matmul;
        plan->reuse_groups = p.gemm->pack == g.pack && p.group_stride == plan->group_stride &&
                             p.n_groups == plan->n_groups &&
                             p.groups_offset == plan->groups_offset;
    }

    const int64_t col_groups = ceil_div(plan->M, kGemmBlock);
    const size_t budget = g.max_call_group_bytes ? g.max_call_group_bytes : kGemmColumnBytes;
    const int64_t cap = static_cast<int64_t>(
        std::clamp<size_t>(budget / plan->group_stride, 1, static_cast<size_t>(col_groups)));
    const int64_t col_blocks = ceil_div(col_groups, cap);
    plan->panel_cols = ceil_div(col_groups, col_blocks) * kGemmBlock;
    const int64_t row_groups = ceil_div(plan->N, kGemmBlock);
    const int64_t per_item = row_groups * col_blocks / (4 * static_cast<int64_t>(n_threads));
    plan->panel_rows =
        std::clamp<int64_t>(per_item, 1, kGemmMaxPanelRows / kGemmBlock) * kGemmBlock;
}

// 4x4 tiles over rows [r0, r1) x columns [c0, c1).
void tiles(const TypeKernels& k, int64_t K, const std::byte* w, size_t w_stride,
           const std::byte* act, size_t a_stride, float* y, size_t ldd, int64_t r0,
           int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t r = r0; r < r1; r += 4) {
        const int nr = static_cast<int>(std::min<int64_t>(4, r1 - r));
        for (int64_t c = c0; c < c1; c += 4) {
            const int nc = static_cast<int>(std::min<int64_t>(4, c1 - c));
            k.tile(K, w + static_cast<size_t>(r) * w_stride, w_stride,
                   act + static_cast<size_t>(c) * a_stride, a_stride,
                   y + static_cast<size_t>(c) * ldd + static_cast<size_t>(r), ldd, nr, nc);
        }
    }
}

}  // namespace

bool plan_matmul(const lmx_node& node, const CompiledNode* previous, int n_threads, Isa isa,
                 MatmulPlan* plan, size_t* shared_bytes, size_t* per_thread_bytes,
                 bool* parallel) {
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
    plan->gemm = nullptr;
    plan->reuse_groups = false;
    *shared_bytes = 0;
    *per_thread_bytes = 0;
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

    const ResidentWeight* copy = resident(w);
    plan->weights = copy ? copy->memory.data() : static_cast<const std::byte*>(w.data);
    plan->packed = copy && copy->repacked && k->packed_gemv != nullptr;
    plan->packed_gemm = plan->packed && k->packed_gemm != nullptr;
    // A repacked weight's original rows are gone: only a gemm that reads the repacked ones.
    const GemmKernels* gemm = plan->packed ? k->packed_gemm : k->gemm;
    if (gemm && k->from_float && plan->M >= kGemmBlock && plan->N >= kGemmBlock) {
        plan_gemm(previous, n_threads, plan, shared_bytes, per_thread_bytes);
        *parallel = n_threads > 1;
        return true;
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

    const std::byte* wdata = p.weights;  // repacked rows when p.packed
    const size_t w_stride = w.nb[1];
    auto* y = static_cast<float*>(dst.data);
    const size_t ldd = dst.nb[1] / sizeof(float);

    if (p.packed && (M == 1 || !p.gemm)) {  // repacked rows, kPackedRows per group
        const int64_t groups = N / kPackedRows;
        const int64_t n_chunks = ctx.chunk_count(step.parallel, groups, 1);
        ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
            const auto [g0, g1] = chunk_range(groups, chunk, n_chunks);
            if (M == 1) {
                k.packed_gemv->gemv(K, wdata, g0, g1, act, y);
            } else {
                k.packed_gemv->columns(K, wdata, g0, g1, act, a_stride, M, y, ldd);
            }
        });
        return LMX_OK;
    }
    if (M == 1) {
        const int64_t n_chunks = ctx.chunk_count(step.parallel, N, kMinGemvRows);
        ctx.chunks(step.parallel, n_chunks, [&](int64_t chunk, int) {
            const auto [r0, r1] = chunk_range(N, chunk, n_chunks, 4);
            // Rows from gemv_streams() distant parts of the chunk in turn: several memory
            // streams per core.
            const int streams = gemv_streams();
            const int64_t part = (r1 - r0) / streams;
            for (int64_t i = 0; i < part; ++i) {
                for (int s = 0; s < streams; ++s) {
                    const int64_t r = r0 + s * part + i;
                    y[r] = k.vec_dot(K, wdata + static_cast<size_t>(r) * w_stride, act);
                }
            }
            for (int64_t r = r0 + streams * part; r < r1; ++r) {
                y[r] = k.vec_dot(K, wdata + static_cast<size_t>(r) * w_stride, act);
            }
        });
        return LMX_OK;
    }

    const std::byte* groups = act;  // converted columns, for a gemm that reads them in place
    if (p.gemm && p.gemm->pack) {
        std::byte* packed = ctx.scratch.shared() + p.groups_offset;
        groups = packed;
        if (!p.reuse_groups) {
            ctx.chunks(step.parallel, p.n_groups, [&](int64_t j, int) {
                p.gemm->pack(K, act + static_cast<size_t>(j * kGemmBlock) * a_stride, a_stride,
                             packed + static_cast<size_t>(j) * p.group_stride);
            });
        }
    }

    const int64_t n_panels = (N + p.panel_rows - 1) / p.panel_rows;
    const int64_t n_blocks = (M + p.panel_cols - 1) / p.panel_cols;
    ctx.chunks(step.parallel, n_panels * n_blocks, [&](int64_t item, int slot) {
        const int64_t r0 = item / n_blocks * p.panel_rows;
        const int64_t r1 = std::min(N, r0 + p.panel_rows);
        const int64_t c0 = item % n_blocks * p.panel_cols;
        const int64_t c1 = std::min(M, c0 + p.panel_cols);
        if (!p.gemm) {
            tiles(k, K, wdata, w_stride, act, a_stride, y, ldd, r0, r1, c0, c1);
            return;
        }
        const int64_t rg = (r1 - r0) / kGemmBlock * kGemmBlock;  // whole blocks
        const int64_t cg = (c1 - c0) / kGemmBlock * kGemmBlock;
        if (rg > 0 && cg > 0) {
            const void* wg = p.packed_gemm ? wdata + k.packed_gemv->bytes(K, r0)
                                           : wdata + static_cast<size_t>(r0) * w_stride;
            p.gemm->gemm(K, wg, w_stride, rg,
                         groups + static_cast<size_t>(c0 / kGemmBlock) * p.group_stride,
                         p.group_stride, cg / kGemmBlock,
                         y + static_cast<size_t>(c0) * ldd + static_cast<size_t>(r0), ldd,
                         ctx.scratch.thread(slot));
        }
        if (p.packed) {  // whole row groups; the edge columns from the repacked rows too
            if (c0 + cg < c1) {
                k.packed_gemv->columns(K, wdata, r0 / kPackedRows, r1 / kPackedRows,
                                       act + static_cast<size_t>(c0 + cg) * a_stride, a_stride,
                                       c1 - c0 - cg, y + static_cast<size_t>(c0 + cg) * ldd, ldd);
            }
            return;
        }
        tiles(k, K, wdata, w_stride, act, a_stride, y, ldd, r0 + rg, r1, c0, c1);
        tiles(k, K, wdata, w_stride, act, a_stride, y, ldd, r0, r0 + rg, c0 + cg, c1);
    });
    return LMX_OK;
}

}  // namespace llamux::cpu
