// State of one CPU backend instance, its compiled programs, and the node executors.
//
// compile() (cpu_execute.cpp) turns each node into a CompiledNode: which executor runs it,
// the kernels and blocking it uses, and how much scratch memory it needs; the backend's
// Scratch grows to the largest need of any program. execute() (cpu_execute.cpp) runs the
// steps in order on the backend's thread pool and allocates nothing. A node no executor
// takes runs on the scalar reference (run_node_ref), which also words every error.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "huge_pages.hpp"
#include "kernels/kernels.hpp"
#include "llamux/backend_abi.h"
#include "thread_pool.hpp"

namespace llamux::cpu {

// Working memory of the executors: one shared area (a matmul's converted activation
// columns) and one area per thread (attention scores, rope angles). Only grows, and only in
// compile(); execute() reads the addresses. 64-byte aligned.
class Scratch {
public:
    // Makes room for at least these sizes; keeps the contents of nothing.
    void reserve(size_t shared_bytes, size_t per_thread_bytes, int n_threads);
    std::byte* shared() const { return mem_.get(); }
    std::byte* thread(int slot) const {
        return mem_.get() + shared_bytes_ + static_cast<size_t>(slot) * per_thread_bytes_;
    }

private:
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::unique_ptr<std::byte, Free> mem_;
    size_t shared_bytes_ = 0;
    size_t per_thread_bytes_ = 0;
    int n_threads_ = 0;
};

struct CpuBackend {
    lmx_backend_config config{};
    int32_t n_threads = 1;  // programs of one token (generation); prompts: config.n_threads_batch
    Isa isa = Isa::Scalar;  // detect_isa() at create
    std::unique_ptr<ThreadPool> pool;
    Scratch scratch;
    // LLAMUX_CPU_HUGE_PAGES=1: the weights this backend holds go into huge pages (where the
    // system has them), and matrices of at least a huge page that are not repacked are
    // copied there too instead of being read from the mapping.
    bool huge_pages = false;
    // Prepared weights this backend will hold in its own memory (repacked, or copied), not
    // yet made resident: the first compile() that puts one under a matmul does it (see
    // prepare_weight). Weights only ever read by get_rows (the token embedding) stay as
    // they are.
    std::unordered_set<const lmx_tensor*> resident_pending;
};

// What w.extra points to once a weight is resident (cpu_weights.cpp): its rows in this
// backend's memory, either repacked (the layout of kernels->packed_gemv) or the file's bytes
// copied with the same strides. Owned by the backend until release_weight.
struct ResidentWeight {
    HugePageMemory memory;
    bool repacked = false;
};

enum class Exec : uint8_t {
    Reference,  // run_node_ref
    GetRows,
    RmsNorm,
    Matmul,
    Rope,
    KvStore,
    Attention,
    Swiglu,
    Add,
    Copy,
};

// What compile() decided for a matmul dst[N, M] = W[K, N] x[K, M].
struct MatmulPlan {
    const TypeKernels* kernels = nullptr;
    int64_t K = 0, N = 0, M = 0;
    size_t act_stride = 0;    // bytes between converted columns in scratch; 0: x read in place
    bool reuse_act = false;   // the node before converted these same columns the same way
    int64_t panel_rows = 4;   // weight rows of one work item of the tiled product (multiple of 4)
    int64_t panel_cols = 4;   // columns of one work item (multiple of 4)
    // Matrix-unit product (kernels->gemm, M >= kGemmBlock): the columns are also packed into
    // n_groups groups of kGemmBlock, group_stride bytes apart from groups_offset in scratch;
    // panel_rows and panel_cols are then multiples of kGemmBlock.
    const GemmKernels* gemm = nullptr;
    int64_t n_groups = 0;
    size_t group_stride = 0;
    size_t groups_offset = 0;
    bool reuse_groups = false;  // the node before packed these same columns the same way
    // The weight's rows as every path reads them: the resident copy (w.extra) or w.data.
    const std::byte* weights = nullptr;
    // Repacked rows (layout of kernels->packed_gemv): every path reads them (gemv, columns,
    // and the gemm when packed_gemm).
    bool packed = false;
    bool packed_gemm = false;
};

struct CompiledNode {
    const lmx_node* node = nullptr;  // points into CpuProgram::nodes
    Exec exec = Exec::Reference;
    bool parallel = false;  // worth spreading over the pool (else the calling thread alone)
    MatmulPlan matmul;      // Exec::Matmul only
};

struct CpuProgram {
    std::vector<lmx_node> nodes;
    std::vector<CompiledNode> steps;  // one per node, same order
    int threads = 1;    // n_threads or n_threads_batch, by the tokens its matmuls multiply
    bool wide = true;   // threads is the pool's whole size (else its narrow loops)
};

// What an executor gets besides its node.
struct ExecContext {
    ThreadPool& pool;
    const Scratch& scratch;
    Isa isa;
    const lmx_exec_args& args;
    int n_threads;  // the program's (CpuProgram::threads)
    bool wide;      // ... and whether that is the whole pool

    int threads() const { return n_threads; }

    // f(chunk, slot) for every chunk in 0 .. n_chunks-1: on the program's threads of the pool
    // when `parallel`, else in order on this thread (slot 0). See ThreadPool::for_chunks.
    template <typename F>
    void chunks(bool parallel, int64_t n_chunks, F&& f) const {
        if (parallel && n_threads > 1 && n_chunks > 1) {
            pool.for_chunks(n_chunks, f, wide);
        } else {
            for (int64_t c = 0; c < n_chunks; ++c) f(c, 0);
        }
    }
    // The chunk count for `units` of work of which a chunk should have at least min_units.
    int64_t chunk_count(bool parallel, int64_t units, int64_t min_units) const {
        return parallel ? cpu::chunk_count(units, min_units, n_threads) : 1;
    }
};

// Weights (cpu_weights.cpp). w.data stays host_data (the model's mapping). A weight whose
// type and shape have a repacked form (TypeKernels::packed_gemv) is repacked, and with
// backend.huge_pages one of at least a huge page is copied, into a ResidentWeight at w.extra
// by the first compile() whose nodes multiply with it (make_resident_for_matmuls); the
// original's pages then leave this process. Until then nothing of it is read, and a weight
// no matmul uses is never copied. Other weights are pre-faulted now. Running out of memory
// for a copy is not an error: the original serves every path.
void prepare_weight(CpuBackend& backend, lmx_tensor& w, const void* host_data);
// The weights in backend.resident_pending that nodes[0 .. n) multiply with. The tensors are
// the host's, prepared by this backend: w.extra is this backend's to set (backend_abi.h).
void make_resident_for_matmuls(CpuBackend& backend, const lmx_node* nodes, int32_t n);
// The resident copy of a prepared weight, or nullptr.
inline const ResidentWeight* resident(const lmx_tensor& w) {
    return static_cast<const ResidentWeight*>(w.extra);
}
void release_weight(CpuBackend& backend, lmx_tensor& w);

// True if this backend can run the node (whatever the reference ops handle).
bool supports(const lmx_node& node);

// Builds a program for nodes[0 .. n) and grows the backend's scratch to what it needs.
void compile(CpuBackend& backend, const lmx_node* nodes, int32_t n, CpuProgram* program);

// Runs the steps of a program in order; fills *error on failure.
lmx_status execute(CpuBackend& backend, const CpuProgram& program, const lmx_exec_args& args,
                   std::string* error);

// ---- per-op planning (compile time) and executors (cpu_<op>.cpp) ---------------------------
// plan_*: true if the fast executor takes the node, filling what it needs; scratch needs
// are returned in bytes. exec_*: run a planned node. Executors return LMX_ERR_INVALID for
// run-time values they refuse (token ids, n_past) without a message: execute() then runs
// the reference on the node to word the error.

// previous: the step before this one in the program (nullptr for the first), whose converted
// columns a matmul of the same input reuses.
bool plan_matmul(const lmx_node& node, const CompiledNode* previous, int n_threads, Isa isa,
                 MatmulPlan* plan, size_t* shared_bytes, size_t* per_thread_bytes,
                 bool* parallel);
lmx_status exec_matmul(const CompiledNode& step, const ExecContext& ctx);

bool plan_attention(const lmx_node& node, size_t* per_thread_bytes, bool* parallel);
lmx_status exec_attention(const CompiledNode& step, const ExecContext& ctx);

bool plan_rope(const lmx_node& node, size_t* per_thread_bytes, bool* parallel);
lmx_status exec_rope(const CompiledNode& step, const ExecContext& ctx);

bool plan_rms_norm(const lmx_node& node, bool* parallel);
lmx_status exec_rms_norm(const CompiledNode& step, const ExecContext& ctx);

bool plan_swiglu(const lmx_node& node, bool* parallel);
lmx_status exec_swiglu(const CompiledNode& step, const ExecContext& ctx);
bool plan_add(const lmx_node& node, bool* parallel);
lmx_status exec_add(const CompiledNode& step, const ExecContext& ctx);

bool plan_get_rows(const lmx_node& node, bool* parallel);
lmx_status exec_get_rows(const CompiledNode& step, const ExecContext& ctx);
bool plan_kv_store(const lmx_node& node, bool* parallel);
lmx_status exec_kv_store(const CompiledNode& step, const ExecContext& ctx);
bool plan_copy(const lmx_node& node, bool* parallel);
lmx_status exec_copy(const CompiledNode& step, const ExecContext& ctx);

}  // namespace llamux::cpu
