// compile(): one CompiledNode per node, with the scratch it needs; execute(): the steps in
// order. Every executor is planned here from the node alone; run-time values (n_past,
// token ids) are checked by the executors.
#include <algorithm>
#include <new>

#include "cpu_backend.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin_support.hpp"

namespace llamux::cpu {
namespace {

constexpr size_t kScratchAlign = 64;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Every tensor the node names has memory (the reference reports the ones that do not).
bool has_data(const lmx_node& node) {
    for (const lmx_tensor* s : node.src) {
        if (s && !s->data) return false;
    }
    return node.dst && node.dst->data;
}

}  // namespace

void Scratch::reserve(size_t shared_bytes, size_t per_thread_bytes, int n_threads) {
    shared_bytes = round_up(shared_bytes, kScratchAlign);
    per_thread_bytes = round_up(per_thread_bytes, kScratchAlign);
    if (mem_ && shared_bytes <= shared_bytes_ && per_thread_bytes <= per_thread_bytes_ &&
        n_threads <= n_threads_) {
        return;
    }
    shared_bytes_ = std::max(shared_bytes, shared_bytes_);
    per_thread_bytes_ = std::max(per_thread_bytes, per_thread_bytes_);
    n_threads_ = std::max(n_threads, n_threads_);
    const size_t total =
        std::max<size_t>(shared_bytes_ + per_thread_bytes_ * static_cast<size_t>(n_threads_),
                         kScratchAlign);
    mem_.reset(static_cast<std::byte*>(std::aligned_alloc(kScratchAlign, total)));
    if (!mem_) throw std::bad_alloc();
}

bool supports(const lmx_node& node) { return supports_node_ref(node); }

void compile(CpuBackend& backend, const lmx_node* nodes, int32_t n, CpuProgram* program) {
    make_resident_for_matmuls(backend, nodes, n);  // before planning: plans read w.extra
    program->nodes.assign(nodes, nodes + n);
    program->steps.assign(static_cast<size_t>(n), CompiledNode{});
    program->threads = plugin::program_threads(backend.config, nodes, n, backend.n_threads);
    program->wide = program->threads == backend.pool->size();
    size_t shared = 0, per_thread = 0;
    for (size_t i = 0; i < program->nodes.size(); ++i) {
        const lmx_node& node = program->nodes[i];
        CompiledNode& step = program->steps[i];
        step.node = &node;
        // Nodes the reference refuses stay with it: it words the error when they run.
        if (!supports_node_ref(node) || !has_data(node)) continue;
        size_t node_shared = 0, node_thread = 0;
        bool ok = false;
        switch (node.op) {
            case LMX_OP_MATMUL:
                ok = plan_matmul(node, i > 0 ? &program->steps[i - 1] : nullptr,
                                 program->threads, backend.isa, &step.matmul, &node_shared,
                                 &node_thread, &step.parallel);
                step.exec = Exec::Matmul;
                break;
            case LMX_OP_ATTENTION:
                ok = plan_attention(node, &node_thread, &step.parallel);
                step.exec = Exec::Attention;
                break;
            case LMX_OP_ROPE:
                ok = plan_rope(node, &node_thread, &step.parallel);
                step.exec = Exec::Rope;
                break;
            case LMX_OP_RMS_NORM:
                ok = plan_rms_norm(node, &step.parallel);
                step.exec = Exec::RmsNorm;
                break;
            case LMX_OP_SWIGLU:
                ok = plan_swiglu(node, &step.parallel);
                step.exec = Exec::Swiglu;
                break;
            case LMX_OP_ADD:
                ok = plan_add(node, &step.parallel);
                step.exec = Exec::Add;
                break;
            case LMX_OP_GET_ROWS:
                ok = plan_get_rows(node, &step.parallel);
                step.exec = Exec::GetRows;
                break;
            case LMX_OP_KV_STORE:
                ok = plan_kv_store(node, &step.parallel);
                step.exec = Exec::KvStore;
                break;
            case LMX_OP_COPY:
                ok = plan_copy(node, &step.parallel);
                step.exec = Exec::Copy;
                break;
            default:
                break;
        }
        if (!ok) {
            step = CompiledNode{};
            step.node = &node;
            continue;
        }
        shared = std::max(shared, node_shared);
        per_thread = std::max(per_thread, node_thread);
    }
    backend.scratch.reserve(shared, per_thread, backend.pool->size());
}

namespace {

lmx_status run_step(const CompiledNode& step, const ExecContext& ctx) {
    switch (step.exec) {
        case Exec::Matmul: return exec_matmul(step, ctx);
        case Exec::Attention: return exec_attention(step, ctx);
        case Exec::Rope: return exec_rope(step, ctx);
        case Exec::RmsNorm: return exec_rms_norm(step, ctx);
        case Exec::Swiglu: return exec_swiglu(step, ctx);
        case Exec::Add: return exec_add(step, ctx);
        case Exec::GetRows: return exec_get_rows(step, ctx);
        case Exec::KvStore: return exec_kv_store(step, ctx);
        case Exec::Copy: return exec_copy(step, ctx);
        case Exec::Reference: break;
    }
    return LMX_ERR_UNSUPPORTED;
}

}  // namespace

lmx_status execute(CpuBackend& backend, const CpuProgram& program, const lmx_exec_args& args,
                   std::string* error) {
    const ExecContext ctx{*backend.pool, backend.scratch, backend.isa, args, program.threads, program.wide};
    for (const CompiledNode& step : program.steps) {
        if (step.exec != Exec::Reference && run_step(step, ctx) == LMX_OK) continue;
        // The reference runs what no executor takes, and words the error of a refused value.
        const lmx_status s = run_node_ref(*step.node, args, error);
        if (s != LMX_OK) return s;
    }
    return LMX_OK;
}

}  // namespace llamux::cpu
