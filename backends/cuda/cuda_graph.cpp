// Token generation launches a few hundred small kernels per token; launched one by one,
// the host's launch cost (several microseconds each) and not the GPU sets the pace. A
// program made only of kernel launches is therefore captured once as a CUDA graph and
// replayed: one launch per execute. What changes between tokens lives in device memory
// (n_past: CudaBackend::n_past_dev; positions and activations: tensors the runtime writes
// before each execute), so the same graph serves every token. Programs with cuBLAS calls
// (prompts) are launched directly: their kernels are few and long.
//
// Between those kernels, programmatic dependent launch (cuda_launch.cuh) lets each one be
// scheduled while its predecessor finishes; set_programmatic_launch turns it on.

#include "cuda_backend.hpp"
#include "cuda_launch.cuh"
#include "llamux/plugin_support.hpp"

namespace llamux::cuda {

void set_programmatic_launch(int device_major, const Settings& settings) {
    g_use_pdl = device_major >= 9 && settings.pdl;
    g_early_weights = g_use_pdl && settings.early_weights;
    g_weights_first = settings.weights_first;
}

CudaProgram::~CudaProgram() {
    for (cudaGraphExec_t g : graph) {
        if (g) cudaGraphExecDestroy(g);
    }
}

namespace {

// Captures `launch` into a new executable graph; on failure leaves *exec null and says why.
lmx_status capture(CudaBackend& b, const std::function<lmx_status(std::string*)>& launch,
                   cudaGraphExec_t* exec, std::string* why) {
    *exec = nullptr;
    cudaError_t e = cudaStreamBeginCapture(b.stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        *why = "cudaStreamBeginCapture: " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    const lmx_status s = launch(why);
    cudaGraph_t graph = nullptr;
    e = cudaStreamEndCapture(b.stream, &graph);  // always ends the capture, even after an error
    if (s != LMX_OK || e != cudaSuccess) {
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        if (s == LMX_OK) *why = "cudaStreamEndCapture: " + error_text(e);
        return s != LMX_OK ? s : LMX_ERR_DEVICE;
    }
    e = cudaGraphInstantiate(exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        *exec = nullptr;
        (void)cudaGetLastError();
        *why = "cudaGraphInstantiate: " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    return LMX_OK;
}

}  // namespace

lmx_status run_graph(CudaBackend& b, const CudaProgram& p, int variant,
                     const std::function<lmx_status(std::string*)>& launch, bool* used, std::string* why) {
    *used = false;
    if (!b.settings.graphs || !p.graphable || p.graph_failed || p.executions < 2) return LMX_OK;
    cudaGraphExec_t& graph = p.graph[variant];
    if (!graph || p.graph_generation[variant] != b.scratch_generation) {
        if (graph) cudaGraphExecDestroy(graph);
        graph = nullptr;
        std::string reason;
        cudaGraphExec_t exec = nullptr;
        if (capture(b, launch, &exec, &reason) != LMX_OK) {
            // Not fatal: this program is launched node by node from now on.
            p.graph_failed = true;
            plugin::log(b.config, 2, "cuda: program launched without a CUDA graph: " + reason);
            return LMX_OK;
        }
        graph = exec;
        p.graph_generation[variant] = b.scratch_generation;
    }
    const cudaError_t e = cudaGraphLaunch(graph, b.stream);
    if (e != cudaSuccess) {
        *why = "cudaGraphLaunch: " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    *used = true;
    return LMX_OK;
}

}  // namespace llamux::cuda
