// The CUDA plugin's ABI table: device memory (is_host_memory = 0), weights uploaded once,
// kernels and cuBLAS queued on one stream per backend. The CUDA runtime is linked
// statically, so loading this library needs only the driver and cuBLAS; without a device the
// probe answers score 0 with the reason and nothing else runs.
#include <memory>
#include <string>

#include "cuda_backend.hpp"
#include "cuda_kernels.hpp"
#include "llamux/plugin_support.hpp"

namespace {

using llamux::cuda::CudaBackend;
using llamux::cuda::CudaProgram;
namespace cuda = llamux::cuda;
namespace plugin = llamux::plugin;

constexpr size_t kCublasWorkspace = size_t{32} << 20;  // cuBLAS's recommendation for Hopper
constexpr int kMinMajor = 8;                          // sm_80 and newer (see CMakeLists.txt)

CudaBackend* as_cuda(lmx_backend* b) { return reinterpret_cast<CudaBackend*>(b); }

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Runs `body(why)` inside plugin::guarded and copies `why` into err on failure.
template <typename Body>
lmx_status run(lmx_error* err, Body&& body) noexcept {
    return plugin::guarded(err, [&] {
        std::string why;
        const lmx_status s = body(&why);
        if (s != LMX_OK) plugin::set_error(err, why);
        return s;
    });
}

void cuda_probe(lmx_probe_result* out) {
    out->score = 0;
    out->n_devices = 0;
    out->memory_total = out->memory_free = 0;
    plugin::set_text(out->device, "");
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        plugin::set_text(out->reason, "no CUDA device: " + (e != cudaSuccess
                                                                 ? std::string(cudaGetErrorString(e))
                                                                 : std::string("the driver reports 0 devices")));
        return;
    }
    out->n_devices = n;
    cudaDeviceProp prop{};
    if (const cudaError_t pe = cudaGetDeviceProperties(&prop, 0); pe != cudaSuccess) {
        plugin::set_text(out->reason, "no CUDA device: cudaGetDeviceProperties(0): " +
                                          std::string(cudaGetErrorString(pe)));
        return;
    }
    const std::string sm = "sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
    plugin::set_text(out->device, std::string(prop.name) + " (" + sm + ", " +
                                      std::to_string(prop.multiProcessorCount) + " SMs)");
    if (prop.major < kMinMajor) {
        plugin::set_text(out->reason, "device 0 " + std::string(prop.name) + " is " + sm +
                                          "; this build has code for sm_80 and newer");
        return;
    }
    size_t free_bytes = 0, total_bytes = 0;
    cudaError_t me = cudaSetDevice(0);
    if (me == cudaSuccess && !cuda::memory_info(cuda::memory_limit_from_env(), 0, &free_bytes, &total_bytes)) {
        me = cudaErrorUnknown;
    }
    if (me != cudaSuccess) {
        plugin::set_text(out->reason, "device 0 " + std::string(prop.name) +
                                          " cannot be used: " + cudaGetErrorString(me));
        return;
    }
    out->memory_total = total_bytes;
    out->memory_free = free_bytes;
    out->score = 100;
    plugin::set_text(out->reason, "");
}

lmx_status cuda_create(const lmx_backend_config* config, lmx_backend** out, lmx_error* err) {
    return run(err, [&](std::string* why) {
        auto b = std::make_unique<CudaBackend>();
        if (!cuda::read_settings(&b->settings, why)) return LMX_ERR_INVALID;
        if (config) b->config = *config;
        b->device = config ? config->device : 0;
        auto fail = [&](const std::string& what, cudaError_t e) {
            *why = "cuda device " + std::to_string(b->device) + ": " + what + ": " + cuda::error_text(e);
            cuda::release(*b);
            return LMX_ERR_DEVICE;
        };
        int n = 0;
        if (const cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) return fail("cudaGetDeviceCount", e);
        if (b->device < 0 || b->device >= n) {
            *why = "cuda device " + std::to_string(b->device) + ": expected an index in 0.." +
                   std::to_string(n - 1) + " (" + std::to_string(n) + " devices)";
            return LMX_ERR_INVALID;
        }
        if (const cudaError_t e = cudaSetDevice(b->device); e != cudaSuccess) return fail("cudaSetDevice", e);
        if (const cudaError_t e = cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking);
            e != cudaSuccess) {
            return fail("cudaStreamCreate", e);
        }
        int optin = 0;
        if (const cudaError_t e =
                cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, b->device);
            e != cudaSuccess) {
            return fail("cudaDeviceGetAttribute", e);
        }
        b->max_shared_optin = static_cast<size_t>(optin);
        if (const cudaError_t e = cuda::attention_allow_shared(b->max_shared_optin); e != cudaSuccess) {
            return fail("cudaFuncSetAttribute (attention shared memory)", e);
        }
        if (const cublasStatus_t s = cublasCreate(&b->cublas); s != CUBLAS_STATUS_SUCCESS) {
            *why = "cuda device " + std::to_string(b->device) + ": cublasCreate: " + cublasGetStatusString(s);
            b->cublas = nullptr;
            cuda::release(*b);
            return LMX_ERR_DEVICE;
        }
        if (const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&b->n_past_dev), sizeof(int32_t)); e != cudaSuccess) {
            b->n_past_dev = nullptr;
            return fail("cudaMalloc of n_past", e);
        }
        if (const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&b->last_block_ticket), sizeof(unsigned));
            e != cudaSuccess) {
            b->last_block_ticket = nullptr;
            return fail("cudaMalloc of the last-block ticket", e);
        }
        if (const cudaError_t e = cudaMemsetAsync(b->last_block_ticket, 0, sizeof(unsigned), b->stream);
            e != cudaSuccess) {
            return fail("cudaMemsetAsync of the last-block ticket", e);
        }
        if (const cudaError_t e = cudaMalloc(&b->cublas_workspace, kCublasWorkspace); e != cudaSuccess) {
            b->cublas_workspace = nullptr;
            return fail("cudaMalloc of the cuBLAS workspace", e);
        }
        if (cublasSetStream(b->cublas, b->stream) != CUBLAS_STATUS_SUCCESS ||
            cublasSetWorkspace(b->cublas, b->cublas_workspace, kCublasWorkspace) != CUBLAS_STATUS_SUCCESS) {
            *why = "cuda device " + std::to_string(b->device) + ": cublasSetStream/cublasSetWorkspace failed";
            cuda::release(*b);
            return LMX_ERR_DEVICE;
        }
        cudaDeviceProp prop{};
        if (const cudaError_t e = cudaGetDeviceProperties(&prop, b->device); e != cudaSuccess) {
            return fail("cudaGetDeviceProperties", e);
        }
        cuda::set_programmatic_launch(prop.major, b->settings);
        size_t free_bytes = 0, total_bytes = 0;
        if (cuda::memory_info(b->settings.memory_limit, b->allocated, &free_bytes, &total_bytes)) {
            plugin::log(b->config, 2,
                        "cuda: device " + std::to_string(b->device) + " " + prop.name + " (sm_" +
                            std::to_string(prop.major) + std::to_string(prop.minor) + "), " +
                            mib(free_bytes) + " free of " + mib(total_bytes));
        }
        (void)cudaGetLastError();
        *out = reinterpret_cast<lmx_backend*>(b.release());
        return LMX_OK;
    });
}

void cuda_destroy(lmx_backend* backend) {
    if (!backend) return;
    CudaBackend* b = as_cuda(backend);
    (void)cudaSetDevice(b->device);
    cuda::release(*b);
    delete b;
}

int32_t cuda_supports_node(lmx_backend* backend, const lmx_node* node) {
    try {
        return node && cuda::supports(*as_cuda(backend), *node) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

int32_t cuda_is_host_memory(lmx_backend*) { return 0; }

lmx_status cuda_buffer_alloc(lmx_backend* backend, size_t size, lmx_buffer** out, void** base,
                             lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        void* p = nullptr;
        const lmx_status s = cuda::device_alloc(b, size, "buffer of " + std::to_string(size) + " bytes", &p, why);
        if (s != LMX_OK) return s;
        *out = static_cast<lmx_buffer*>(p);
        *base = p;
        return LMX_OK;
    });
}

void cuda_buffer_free(lmx_backend* backend, lmx_buffer* buffer) {
    (void)cudaSetDevice(as_cuda(backend)->device);
    cudaFree(buffer);  // waits for queued work that may still use it
}

lmx_status cuda_tensor_write(lmx_backend* backend, lmx_tensor* dst, const void* src, size_t offset,
                             size_t size, lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        return cuda::stage_write(b, static_cast<char*>(dst->data) + offset, src, size, why);
    });
}

lmx_status cuda_tensor_read(lmx_backend* backend, const lmx_tensor* src, void* dst, size_t offset,
                            size_t size, lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        const cudaError_t e = cudaMemcpyAsync(dst, static_cast<const char*>(src->data) + offset, size,
                                              cudaMemcpyDeviceToHost, b.stream);
        if (e != cudaSuccess) {
            *why = "cudaMemcpyAsync of " + std::to_string(size) + " bytes from the GPU: " + cuda::error_text(e);
            return LMX_ERR_DEVICE;
        }
        return cuda::sync_stream(b, why);
    });
}

lmx_status cuda_prepare_weight(lmx_backend* backend, lmx_tensor* weight, const void* host_data,
                               lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        return cuda::prepare_weight(b, *weight, host_data, why);
    });
}

void cuda_release_weight(lmx_backend* backend, lmx_tensor* weight) {
    CudaBackend& b = *as_cuda(backend);
    (void)cudaSetDevice(b.device);
    cuda::release_weight(b, *weight);
}

lmx_status cuda_compile(lmx_backend* backend, const lmx_node* nodes, int32_t n_nodes,
                        lmx_program** out, lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        auto p = std::make_unique<CudaProgram>();
        const lmx_status s = cuda::compile(b, nodes, n_nodes, *p, why);
        if (s != LMX_OK) return s;
        *out = reinterpret_cast<lmx_program*>(p.release());
        return LMX_OK;
    });
}

lmx_status cuda_execute(lmx_backend* backend, lmx_program* program, const lmx_exec_args* args,
                        lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        return cuda::execute(b, *reinterpret_cast<CudaProgram*>(program), *args, why);
    });
}

void cuda_program_free(lmx_backend*, lmx_program* program) {
    delete reinterpret_cast<CudaProgram*>(program);
}

lmx_status cuda_synchronize(lmx_backend* backend, lmx_error* err) {
    return run(err, [&](std::string* why) {
        CudaBackend& b = *as_cuda(backend);
        if (const lmx_status s = cuda::activate(b, why); s != LMX_OK) return s;
        return cuda::sync_stream(b, why);
    });
}

const lmx_backend_api kApi = {
    LMX_ABI_VERSION,
    sizeof(lmx_backend_api),
    "cuda",
    "NVIDIA GPU: quantized matrix-vector kernels, cuBLAS for prompts (sm_80+)",
    cuda_probe,
    cuda_create,
    cuda_destroy,
    cuda_supports_node,
    cuda_is_host_memory,
    cuda_buffer_alloc,
    cuda_buffer_free,
    cuda_tensor_write,
    cuda_tensor_read,
    cuda_prepare_weight,
    cuda_release_weight,
    cuda_compile,
    cuda_execute,
    cuda_program_free,
    cuda_synchronize,
};

}  // namespace

// Always returns the table: the host compares abi_version and names both on a mismatch.
extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t /*host_abi*/) {
    return &kApi;
}
