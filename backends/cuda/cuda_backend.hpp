// The CUDA backend's host-side state, shared by its C++ translation units: the backend
// instance (device, stream, cuBLAS, staging and scratch memory), prepared weights and
// compiled programs. Nothing here crosses the plugin ABI; cuda_plugin.cpp wraps it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cuda_kernels.hpp"
#include "cuda_profile.hpp"
#include "cuda_settings.hpp"
#include "llamux/backend_abi.h"

namespace llamux::cuda {

// Programmatic dependent launch for every kernel (cuda_launch.cuh): on for sm_90 and newer
// unless settings.pdl is off; with it, the GEMV's early weight loads when
// settings.early_weights; and the plain GEMV's weights-first walk when settings.weights_first.
// Process-wide (the launch code has no backend at hand); called when a backend is created,
// so the last backend created sets them.
void set_programmatic_launch(int device_major, const Settings& settings);

// A weight as it lies in GPU memory (lmx_tensor::extra of a prepared weight). The tensor's
// dtype stays the file's; stored_dtype says what the kernels read: the file's own bytes for
// F32, F16, Q4_0, Q8_0, Q4_K, Q5_K and Q6_K (the quantized ones' rows split into bodies and
// scales with Settings::split_blocks: kStoredQ4_0Split etc. in cuda_stored_types.hpp), rows
// expanded to F16 for the other types.
struct DeviceWeight {
    int32_t stored_dtype = LMX_TYPE_F32;
    size_t row_bytes = 0;  // stride between rows in GPU memory
    int64_t n_rows = 0;
    size_t bytes = 0;      // of the allocation at tensor->data
};

// A device allocation that only grows; used by one stream, so growing it waits for that
// stream first (work queued earlier may still read the old memory).
struct DeviceScratch {
    void* ptr = nullptr;
    size_t bytes = 0;
};

struct CudaBackend {
    lmx_backend_config config{};
    Settings settings;  // the environment's knobs, read and checked by create
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    void* cublas_workspace = nullptr;
    size_t max_shared_optin = 0;  // dynamic shared memory a block may use, bytes
    // Bytes device_alloc has handed out (frees are not counted back): what
    // settings.memory_limit is checked against.
    size_t allocated = 0;

    // Pinned staging of host-to-device writes: regions handed out since the last stream
    // synchronisation stay untouched until it (see stage_write in cuda_memory.cpp).
    void* staging = nullptr;
    size_t staging_bytes = 0;
    size_t staging_used = 0;

    // cuBLAS inputs of prompt processing: weights dequantized to f16 (tile by tile) and
    // activations converted to f16. Sized by compile, never by execute.
    DeviceScratch gemm_weight;
    DeviceScratch gemm_act;
    // Activations rounded as the reference rounds them (values or int8 quants), and the
    // per-block scales of the int8 form (cuda_activations.cu).
    DeviceScratch act_scales;
    // A second pair of the same, for a launch that rounds its output for the next matmul
    // while its own blocks still read the first pair (fusion level 6: gate/up + SwiGLU), and
    // the zeroed counters with which that launch's warps find the last of each 32 outputs.
    DeviceScratch act_alt;
    DeviceScratch act_scales_alt;
    DeviceScratch swiglu_tickets;
    // Token generation's attention splits along the cache (cuda_attention_split.cu) once
    // settings.split_attention_from cache rows are filled before the token; programs with
    // such an attention keep one CUDA graph per side of it. Its scratch.
    DeviceScratch split_scores, split_stats, split_partial, split_tickets;

    // n_past of the current execute, in device memory: kv_store and attention read it when
    // they run, so a program captured as a CUDA graph replays with the current value.
    int32_t* n_past_dev = nullptr;
    // The counter with which the blocks of a matrix-vector launch that ends in a norm find
    // the last of them (fusion level 5, cuda_mmv_norm.cu); zero between launches.
    unsigned* last_block_ticket = nullptr;
    // Bumped whenever ensure_scratch moves a scratch buffer: graphs captured before it hold
    // the old addresses and are captured again.
    uint64_t scratch_generation = 0;
    // With settings.profile: GPU time per node kind, printed by release (cuda_profile.hpp).
    NodeProfile profile;
};

// How a matmul node runs (chosen by compile).
enum class MatmulPath {
    Gemv,         // one column: cuda_mmv.cu reads the stored weight directly
    GemvQ8,       // one column, Q4_0/Q8_0/Q6_K weight: int8 dot products on int8 activations
    GemmF32,      // f32 weight: cublasSgemm on f32 activations
    GemmF16,      // f16 weight: activations to f16, cublasGemmEx with f32 accumulation
    GemmDequant,  // quantized weight: tiles dequantized to f16, then as GemmF16
};

struct CompiledNode {
    lmx_node node{};                    // tensors valid until program_free (ABI)
    const DeviceWeight* weight = nullptr;  // matmul and get_rows on a prepared weight
    MatmulPath path = MatmulPath::Gemv;
    // The reference's activation type for this weight (LMX_TYPE_Q8_0 or LMX_TYPE_Q8_K):
    // x is rounded to it before the product; -1 where x goes in as it is (f32/f16 weights).
    int32_t round_as = -1;
    // The previous node is a matmul that left this node's x rounded the same way in the
    // scratch (q, k and v of one layer; gate and up): the rounding is not repeated.
    bool reuse_rounded = false;
    // GemvQ8: the weights this node's launch multiplies (itself, then the following nodes
    // that share its x, up to kMaxMmvGroup); run_by_group marks those followers, which then
    // launch nothing.
    MmvGroup group;
    bool run_by_group = false;
    // Fusions (fuse_nodes in cuda_program.cpp): an add whose result only the next rms_norm
    // reads first is computed by that norm's kernel (skip here, fused_add there); an
    // rms_norm or SwiGLU right before an int8 matmul on its output also writes that output
    // rounded (round_out = the matmul's vec_dot_type), and the matmul does not round.
    bool skip = false;
    bool has_fused_add = false;
    lmx_node fused_add{};
    int32_t round_out = -1;
    // A rope of k followed by the KV stores of that k and of v: this rope's launch also does
    // both stores (skip there) and, with has_rope_q, the rope of q just before it (skip there
    // too); see fuse_rope_store in cuda_program.cpp.
    bool has_rope_store = false, has_rope_q = false;
    lmx_node store_k{}, store_v{}, rope_q{};
    // Fusion level 4: the q/k/v group this GemvQ8 node leads also does the rope + KV store
    // work of the rope_k node (skip there) and its fused nodes (launch_mmv_q8_rope_store).
    bool has_rope_epilogue = false;
    lmx_node rope_k{};
    // Fusion level 5: this GemvQ8 node's launch ends with the add + rms_norm after it (the
    // norm_node with its fused add, skip there), done by the launch's last block.
    bool has_norm_tail = false;
    lmx_node norm_node{}, norm_add{};
    int32_t norm_round_out = -1;
    // Fusion level 6: this GemvQ8 node leads a gate/up group whose launch also computes the
    // SwiGLU after it (swiglu_node, skip there) and rounds it into act_alt /
    // act_scales_alt (launch_mmv_q8_swiglu); the matmul that reads it has x_in_alt.
    bool has_swiglu_epilogue = false;
    lmx_node swiglu_node{};
    bool x_in_alt = false;
    // An attention node that takes the split kernels past settings.split_attention_from.
    bool split_attention = false;
    int64_t tile_rows = 0;              // GemmDequant: weight rows per dequantized tile
};

struct CudaProgram {
    std::vector<CompiledNode> nodes;
    mutable int64_t executions = 0;  // the profile skips each program's first (warm-up) run
    // Replayed as a CUDA graph from its second execution on when every node is a kernel
    // launch (no cuBLAS); see cuda_graph.cpp. One graph per variant of the launches:
    // kShortContext, and kLongContext where the program has split attention.
    bool graphable = false;
    bool has_split_attention = false;
    static constexpr int kShortContext = 0, kLongContext = 1;
    mutable cudaGraphExec_t graph[2] = {nullptr, nullptr};
    mutable uint64_t graph_generation[2] = {0, 0};  // CudaBackend::scratch_generation at capture
    mutable bool graph_failed = false;              // capture refused once: launch directly

    CudaProgram() = default;
    CudaProgram(const CudaProgram&) = delete;
    CudaProgram& operator=(const CudaProgram&) = delete;
    ~CudaProgram();
};

// ---- cuda_memory.cpp ---------------------------------------------------------------------

// "no CUDA device: <cudaGetErrorString>" etc.: the text of a CUDA error.
std::string error_text(cudaError_t e);
// Free and total device memory, both capped by `limit` bytes (less `allocated`) when it is
// not 0; false if the driver cannot say. With Settings::memory_limit as the limit the
// backend behaves as if the GPU had only that much memory (device_alloc fails past it, the
// probe and the messages show it), so that out-of-memory handling can be tried on any GPU.
// Allocations are counted, frees not.
bool memory_info(size_t limit, size_t allocated, size_t* free_bytes, size_t* total_bytes);
// "N bytes (X MiB); the GPU has F MiB free of T MiB"
std::string memory_report(const CudaBackend& b, size_t wanted);
// Makes the backend's device current on the calling thread.
lmx_status activate(const CudaBackend& b, std::string* why);
// Allocates zeroed device memory; OUT_OF_MEMORY with a message giving the bytes wanted and
// free, DEVICE for other failures. `what` names the allocation in messages.
lmx_status device_alloc(CudaBackend& b, size_t bytes, const std::string& what, void** out,
                        std::string* why);
// Grows s to at least `bytes` (waits for the stream first).
lmx_status ensure_scratch(CudaBackend& b, DeviceScratch& s, size_t bytes, const std::string& what,
                          std::string* why);
// Queues a copy of `size` host bytes to device address dst through the pinned staging
// buffer; `src` may be reused as soon as this returns.
lmx_status stage_write(CudaBackend& b, void* dst, const void* src, size_t size, std::string* why);
// Waits for the stream; staging memory is free again afterwards.
lmx_status sync_stream(CudaBackend& b, std::string* why);
void release(CudaBackend& b);  // frees everything the backend holds

// ---- cuda_weights.cpp --------------------------------------------------------------------

// The type a weight of file type `dtype` is kept as on the GPU, its rows split into bodies
// and scales where `split_blocks` (Settings::split_blocks) and the type has that form; -1 if
// not a weight type.
int32_t stored_type(int32_t dtype, bool split_blocks);
lmx_status prepare_weight(CudaBackend& b, lmx_tensor& weight, const void* host_data,
                          std::string* why);
void release_weight(CudaBackend& b, lmx_tensor& weight);

// ---- cuda_graph.cpp --------------------------------------------------------------------------

// Queues the program's nodes through its CUDA graph for `variant` (CudaProgram::
// kShortContext or kLongContext; captured on first use, or again after the scratch moved);
// `launch` queues that variant's launches directly and is what gets captured. Returns false
// in *used when the program is not replayed as a graph (the caller launches).
lmx_status run_graph(CudaBackend& b, const CudaProgram& program, int variant,
                     const std::function<lmx_status(std::string*)>& launch, bool* used, std::string* why);

// ---- cuda_program.cpp / cuda_matmul.cpp ----------------------------------------------------

bool supports(const CudaBackend& b, const lmx_node& node);
lmx_status compile(CudaBackend& b, const lmx_node* nodes, int32_t n_nodes, CudaProgram& program,
                   std::string* why);
lmx_status execute(CudaBackend& b, const CudaProgram& program, const lmx_exec_args& args,
                   std::string* why);
// Picks the matmul path of a node and sizes the scratch it needs.
lmx_status plan_matmul(CudaBackend& b, CompiledNode& c, std::string* why);
// Marks the matmuls that can use the rounded x their predecessor left, and gathers runs of
// int8 matrix-vector products on one x into one launch (after plan_matmul of every node).
void share_matmul_inputs(std::vector<CompiledNode>& nodes);
// Queues a matmul node (after plan_matmul).
lmx_status run_matmul(CudaBackend& b, const CompiledNode& c, std::string* why);

}  // namespace llamux::cuda
