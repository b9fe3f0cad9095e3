// Kernel launches with programmatic dependent launch (PDL, sm_90 and newer): a kernel may be
// scheduled while the one before it on the stream is still finishing, and waits inside
// (pdl_wait) until that one's writes are visible. Token generation runs a few hundred small
// dependent kernels per token, so the gap between them is a large part of its time.
//
// Contract: every kernel started through launch() calls pdl_wait() before it reads memory
// that an earlier kernel wrote (first thing, in practice; weights, which no kernel writes,
// may be read before), and may call pdl_trigger() to let the next kernel be scheduled
// early. LLAMUX_CUDA_PDL=0 turns the attribute off.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace llamux::cuda {

// Whether launch() asks for PDL; set by each backend's create from its Settings (device
// sm_90+, set_programmatic_launch).
inline bool g_use_pdl = false;
// Whether the int8 matrix-vector kernels load their first weights before pdl_wait
// (LLAMUX_CUDA_EARLY_WEIGHTS=1; set with g_use_pdl).
inline bool g_early_weights = false;
// Whether the plain int8 matrix-vector kernel walks its rows weights first
// (LLAMUX_CUDA_WEIGHTS_FIRST=1, cuda_mmv_rows.cuh; set where g_use_pdl is, PDL on or off).
inline bool g_weights_first = false;

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// kernel<<<grid, block, shared, stream>>>(args...), with the PDL attribute when enabled.
// Returns the launch's error (also left in cudaGetLastError()).
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream,
                   Args&&... args) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = shared;
    config.stream = stream;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    config.attrs = &attribute;
    config.numAttrs = g_use_pdl ? 1 : 0;
    return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace llamux::cuda
