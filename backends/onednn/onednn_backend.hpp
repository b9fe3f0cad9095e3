// State of one oneDNN backend instance, its prepared weights and its compiled programs.
//
// What runs where (see docs/backends/onednn.md):
//   matmul          oneDNN matmul primitive; weights converted/reordered at prepare_weight,
//                   activations reordered to bf16 for bf16 weights
//   add             oneDNN binary add
//   swiglu          oneDNN eltwise swish, then binary mul (in place)
//   attention       oneDNN matmul (q k^T, scaled), softmax, matmul (p v); the cache read,
//                   the causal mask and the reference's roundings in C++
//   rms_norm, rope, plain C++ here (oneDNN 2.6 has no RMSNorm or RoPE, and converts f16
//   kv_store        only in its reference reorder)
//   get_rows, copy  declined: the host backend runs them
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"

namespace llamux::onednn {

// Host memory owned by the backend: 64-byte aligned, zero-filled when it grows. Steps set
// their oneDNN memory handles from data() when they run, so growing it at a later compile
// does not leave earlier programs with stale pointers.
class HostBuffer {
public:
    void reserve(size_t bytes);  // at least `bytes`; contents are lost when it grows
    std::byte* data() const { return data_.get(); }
    size_t size() const { return size_; }

private:
    struct Free {
        void operator()(std::byte* p) const;
    };
    std::unique_ptr<std::byte, Free> data_;
    size_t size_ = 0;
};

// How matmul weights are held once prepared (LLAMUX_ONEDNN_WEIGHTS=auto|f32|bf16).
//   auto  F32 and F16 as f32 (oneDNN 2.6 has no f16 matmul on CPUs; f32 holds f16 exactly);
//         BF16 and quantized types as bf16 where the CPU has AVX-512 BF16, else f32
//   f32   everything as f32 (exact dequantized values, twice the memory of bf16)
//   bf16  F16 too as bf16, where the CPU has AVX-512 BF16 (half the memory of f32, 3 fewer
//         significant bits than f16)
enum class WeightPolicy { Auto, F32, Bf16 };

struct OnednnBackend {
    lmx_backend_config config{};
    int32_t n_threads = 1;
    dnnl::engine engine;
    dnnl::stream stream;
    WeightPolicy policy = WeightPolicy::Auto;
    bool native_bf16 = false;  // AVX-512 BF16, and oneDNN may use it
    // The batch (matmul M) whose preferred weight layout prepare_weight picks; every other
    // batch size uses the same layout (checked at compile; brgemm accepts it for any M).
    int64_t layout_batch = 512;

    // Memory held by prepared weights, in addition to the mapped model file.
    size_t weight_bytes = 0;     // bytes of converted/reordered copies alive now
    size_t file_bytes = 0;       // the file bytes of the same tensors
    size_t n_weights = 0;        // prepared matmul weights alive now
    size_t logged_weight_bytes = SIZE_MAX;  // what the last info line reported

    // Scratch shared by all programs of this backend (they run one at a time): activations
    // converted to bf16 for a matmul, and the attention's f32 K/V panels and scores.
    HostBuffer matmul_scratch;
    HostBuffer attention_scratch;
};

// A matmul weight W[K, N] as the primitives read it (tensor->extra of a prepared weight).
struct PreparedWeight {
    dnnl::memory mem;  // dims {K, N}; owns its buffer unless it wraps the file (zero copy)
    int64_t k = 0, n = 0;
    size_t bytes = 0;       // bytes this weight holds beyond the file (0 for zero copy)
    size_t file_bytes = 0;  // bytes of the tensor in the file
};

// One executable piece of a program: a primitive with its arguments, or a plain C++ op.
struct Step {
    std::string what;   // "matmul l3.q (layer 3)": names the node in error messages
    bool host = false;  // plain C++ on host memory: queued primitives must finish first
    std::function<lmx_status(const lmx_exec_args& args, std::string* why)> run;
};

struct Program {
    std::vector<Step> steps;
    int32_t threads = 1;  // OpenMP threads: -t, or -tb for a prompt's program (plugin::program_threads)
};

// Sends a line to the host's log callback (levels as spdlog: 0 trace .. 4 error).
void log(const OnednnBackend& b, int32_t level, const std::string& message);

// Sets the OpenMP thread count that oneDNN and the plain C++ ops use for the lifetime of
// the scope, restoring the caller's value afterwards (oneDNN's CPU runtime here is OpenMP:
// primitives read omp_get_max_threads() both when created and when run).
class ThreadScope {
public:
    explicit ThreadScope(int32_t n_threads);
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

private:
    int saved_;
};

// ---- weights (onednn_weights.cpp) ----------------------------------------------------------
// True for tensors prepare_weight turns into a PreparedWeight: 2-D weights of a matmul type.
bool is_matmul_weight(const lmx_tensor& t);
// The oneDNN type a matmul weight of this file type is held as (f32 or bf16).
dnnl::memory::data_type held_type(const OnednnBackend& b, int32_t dtype);
// Converts/reorders a matmul weight into weight->extra; other weights are used in place.
lmx_status prepare_weight(OnednnBackend& b, lmx_tensor& weight, const void* host_data,
                          std::string* why);
void release_weight(OnednnBackend& b, lmx_tensor& weight);
// Logs the total held by prepared weights at info level when it changed since last time.
void log_weight_total(OnednnBackend& b);
// "BA16a64b2a"-style name of a memory layout, for logs.
std::string layout_name(const dnnl::memory::desc& md);

// ---- ops (onednn_compile.cpp, onednn_host_ops.cpp, onednn_attention.cpp) ------------------
// 1 if compile() can handle the node: the op and its dtypes, shapes and strides.
bool supports(const OnednnBackend& b, const lmx_node& node);
// Appends the steps of a run of nodes (all supported) to the program.
lmx_status compile(OnednnBackend& b, const lmx_node* nodes, int32_t n_nodes, Program& program,
                   std::string* why);

// Plain C++ ops, run on host memory with the backend's OpenMP threads.
void run_rms_norm(const lmx_node& node);
void run_rope(const lmx_node& node);

// Attention: scores and weighted sums in C++, softmax as a oneDNN primitive built for the
// cache's n_ctx columns (so nothing depends on n_past at compile time).
lmx_status compile_attention(OnednnBackend& b, const lmx_node& node, Program& program,
                             std::string* why);

}  // namespace llamux::onednn
