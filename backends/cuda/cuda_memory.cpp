// Device memory of the CUDA backend: allocations with out-of-memory reports, grow-only
// scratch, and the pinned staging buffer through which host data reaches the GPU.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "cuda_backend.hpp"
#include "cuda_kernels.hpp"

namespace llamux::cuda {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kStagingChunk = 64 * kMiB;  // largest single staged copy
constexpr size_t kStagingAlign = 256;

std::string mib(size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / static_cast<double>(kMiB));
    return buf;
}

}  // namespace

std::string error_text(cudaError_t e) {
    return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

bool memory_info(size_t limit, size_t allocated, size_t* free_bytes, size_t* total_bytes) {
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    if (limit > 0) {
        *total_bytes = std::min(*total_bytes, limit);
        *free_bytes = std::min(*free_bytes, limit > allocated ? limit - allocated : 0);
    }
    return true;
}

std::string memory_report(const CudaBackend& b, size_t wanted) {
    std::string s = std::to_string(wanted) + " bytes (" + mib(wanted) + ")";
    size_t free_bytes = 0, total_bytes = 0;
    if (memory_info(b.settings.memory_limit, b.allocated, &free_bytes, &total_bytes)) {
        s += "; the GPU has " + mib(free_bytes) + " free of " + mib(total_bytes);
    }
    return s;
}

lmx_status activate(const CudaBackend& b, std::string* why) {
    const cudaError_t e = cudaSetDevice(b.device);
    if (e == cudaSuccess) return LMX_OK;
    *why = "cudaSetDevice(" + std::to_string(b.device) + "): " + error_text(e);
    return LMX_ERR_DEVICE;
}

lmx_status device_alloc(CudaBackend& b, size_t bytes, const std::string& what, void** out,
                        std::string* why) {
    *out = nullptr;
    // kAllocPadding past the end: kernels that read whole aligned words (the quantized
    // weights' 18- and 34-byte blocks) may touch a few bytes after the last block.
    const size_t size = std::max<size_t>(bytes + kAllocPadding, kStagingAlign);
    const size_t limit = b.settings.memory_limit;
    cudaError_t e = limit > 0 && b.allocated + size > limit ? cudaErrorMemoryAllocation : cudaMalloc(out, size);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();  // not sticky: clear it from the last-error slot
        *why = what + ": cannot allocate " + memory_report(b, size);
        return LMX_ERR_OUT_OF_MEMORY;
    }
    if (e == cudaSuccess) e = cudaMemsetAsync(*out, 0, size, b.stream);
    if (e != cudaSuccess) {
        if (*out) cudaFree(*out);
        *out = nullptr;
        *why = what + ": cudaMalloc/cudaMemset of " + std::to_string(size) + " bytes: " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    b.allocated += size;
    return LMX_OK;
}

lmx_status ensure_scratch(CudaBackend& b, DeviceScratch& s, size_t bytes, const std::string& what,
                          std::string* why) {
    if (bytes <= s.bytes) return LMX_OK;
    const lmx_status st = sync_stream(b, why);  // queued work may still use the old memory
    if (st != LMX_OK) return st;
    if (s.ptr) cudaFree(s.ptr);
    s.ptr = nullptr;
    s.bytes = 0;
    void* p = nullptr;
    const lmx_status a = device_alloc(b, bytes, what, &p, why);
    if (a != LMX_OK) return a;
    s.ptr = p;
    s.bytes = bytes;
    ++b.scratch_generation;  // captured graphs hold the old address
    return LMX_OK;
}

lmx_status sync_stream(CudaBackend& b, std::string* why) {
    const cudaError_t e = cudaStreamSynchronize(b.stream);
    if (e != cudaSuccess) {
        *why = "cudaStreamSynchronize: " + error_text(e);
        return LMX_ERR_DEVICE;
    }
    b.staging_used = 0;
    return LMX_OK;
}

lmx_status stage_write(CudaBackend& b, void* dst, const void* src, size_t size, std::string* why) {
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    while (size > 0) {
        const size_t chunk = std::min(size, kStagingChunk);
        const size_t rounded = (chunk + kStagingAlign - 1) / kStagingAlign * kStagingAlign;
        if (b.staging_used + rounded > b.staging_bytes) {
            // No free region left: wait for the queued copies, then start over (larger).
            const lmx_status st = sync_stream(b, why);
            if (st != LMX_OK) return st;
            if (rounded > b.staging_bytes) {
                if (b.staging) cudaFreeHost(b.staging);
                b.staging = nullptr;
                b.staging_bytes = 0;
                // Room for two chunks: the next memcpy overlaps the previous transfer.
                const size_t want = std::max(2 * rounded, 4 * kMiB);
                const cudaError_t e = cudaMallocHost(&b.staging, want);
                if (e != cudaSuccess) {
                    b.staging = nullptr;
                    *why = "cudaMallocHost of a " + std::to_string(want) +
                           "-byte staging buffer: " + error_text(e);
                    return e == cudaErrorMemoryAllocation ? LMX_ERR_OUT_OF_MEMORY : LMX_ERR_DEVICE;
                }
                b.staging_bytes = want;
            }
        }
        char* region = static_cast<char*>(b.staging) + b.staging_used;
        std::memcpy(region, s, chunk);
        const cudaError_t e = cudaMemcpyAsync(d, region, chunk, cudaMemcpyHostToDevice, b.stream);
        if (e != cudaSuccess) {
            *why = "cudaMemcpyAsync of " + std::to_string(chunk) + " bytes to the GPU: " + error_text(e);
            return LMX_ERR_DEVICE;
        }
        b.staging_used += rounded;
        d += chunk;
        s += chunk;
        size -= chunk;
    }
    return LMX_OK;
}

void release(CudaBackend& b) {
    if (b.stream) cudaStreamSynchronize(b.stream);
    b.profile.report_and_release();
    if (b.cublas) cublasDestroy(b.cublas);
    if (b.cublas_workspace) cudaFree(b.cublas_workspace);
    for (DeviceScratch* s : {&b.gemm_weight, &b.gemm_act, &b.act_scales, &b.act_alt, &b.act_scales_alt,
                             &b.swiglu_tickets, &b.split_scores, &b.split_stats, &b.split_partial,
                             &b.split_tickets}) {
        if (s->ptr) cudaFree(s->ptr);
    }
    if (b.n_past_dev) cudaFree(b.n_past_dev);
    if (b.last_block_ticket) cudaFree(b.last_block_ticket);
    if (b.staging) cudaFreeHost(b.staging);
    if (b.stream) cudaStreamDestroy(b.stream);
    b = CudaBackend{};
}

}  // namespace llamux::cuda
