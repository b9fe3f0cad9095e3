// The emulated CUDA runtime: memory, streams, graphs, events, launches (runtime.hpp).
#include "cuda_emulator/runtime.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "block_runner.hpp"

using Work = std::function<cudaError_t()>;

struct CUstream_st {
    bool capturing = false;
    bool capture_failed = false;
    std::vector<Work> captured;
};

struct CUgraph_st {
    std::vector<Work> work;
};

struct CUgraphExec_st {
    std::vector<Work> work;
};

struct CUevent_st {
    std::chrono::steady_clock::time_point at{};
    bool recorded = false;
};

namespace {

// The device: 16 GiB, an H100's limits on threads and shared memory per block, and 4 SMs
// (grids sized by the SM count stay small).
constexpr size_t kDeviceMemory = size_t{16} << 30;
constexpr int kSharedOptin = 227 * 1024;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr size_t kAlignment = 256;

thread_local cudaError_t t_last_error = cudaSuccess;

// LLAMUX_CUDA_EMULATOR_STATS=1: how many kernels ran (graph nodes included), printed when
// the process ends; the launches per generated token are what kernel fusion saves.
struct LaunchCount {
    std::atomic<uint64_t> kernels{0};
    ~LaunchCount() {
        const char* v = std::getenv("LLAMUX_CUDA_EMULATOR_STATS");
        if (v && *v && std::strcmp(v, "0") != 0) {
            std::fprintf(stderr, "cuda emulator: %llu kernels run\n",
                         static_cast<unsigned long long>(kernels.load()));
        }
    }
};
LaunchCount g_launch_count;

cudaError_t fail(cudaError_t e) {
    t_last_error = e;
    return e;
}

struct DeviceMemory {
    std::mutex mutex;
    std::unordered_map<void*, size_t> sizes;
    size_t used = 0;
};

DeviceMemory& device_memory() {
    static auto* m = new DeviceMemory;  // outlives static destructors that free memory
    return *m;
}

CUstream_st& default_stream() {
    static CUstream_st s;
    return s;
}

CUstream_st& stream_of(cudaStream_t s) { return s ? *s : default_stream(); }

// Runs `work` now, or records it when the stream is being captured.
cudaError_t submit(cudaStream_t stream, Work work) {
    CUstream_st& s = stream_of(stream);
    if (s.capturing) {
        s.captured.push_back(std::move(work));
        return cudaSuccess;
    }
    const cudaError_t e = work();
    return e == cudaSuccess ? e : fail(e);
}

bool valid_launch(dim3 grid, dim3 block, size_t shared) {
    const uint64_t threads = uint64_t{block.x} * block.y * block.z;
    return threads >= 1 && threads <= kMaxThreadsPerBlock && block.z <= 64 && grid.x >= 1 && grid.y >= 1 &&
           grid.z >= 1 && grid.y <= 65535 && grid.z <= 65535 && shared <= static_cast<size_t>(kSharedOptin);
}

}  // namespace

namespace cuemu {

cudaError_t launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, std::function<void()> body) {
    if (!valid_launch(grid, block, shared_bytes)) return fail(cudaErrorInvalidConfiguration);
    return submit(stream, [grid, block, shared_bytes, body = std::move(body)]() {
        g_launch_count.kernels.fetch_add(1, std::memory_order_relaxed);
        std::string why;
        if (run_grid(grid, block, shared_bytes, body, &why)) return cudaSuccess;
        std::fprintf(stderr, "cuda emulator: kernel of grid (%u,%u,%u) x block (%u,%u,%u) failed: %s\n", grid.x,
                     grid.y, grid.z, block.x, block.y, block.z, why.c_str());
        return cudaErrorLaunchFailure;
    });
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work) {
    return submit(stream, [work = std::move(work)]() {
        work();
        return cudaSuccess;
    });
}

}  // namespace cuemu

const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
        case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
        case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
        case cudaErrorLaunchFailure: return "unspecified launch failure (the emulator printed why)";
        case cudaErrorUnknown: return "unknown error";
    }
    return "unknown error";
}

cudaError_t cudaGetLastError() {
    const cudaError_t e = t_last_error;
    t_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    *prop = {};
    std::snprintf(prop->name, sizeof prop->name, "%s", "llamux CUDA emulator (CPU)");
    prop->totalGlobalMem = kDeviceMemory;
    prop->sharedMemPerBlock = 48 * 1024;
    prop->sharedMemPerBlockOptin = kSharedOptin;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = kMaxThreadsPerBlock;
    prop->major = 9;  // the newest code paths (programmatic dependent launch is a no-op here)
    prop->minor = 0;
    prop->multiProcessorCount = 4;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    if (attr != cudaDevAttrMaxSharedMemoryPerBlockOptin) return fail(cudaErrorInvalidValue);
    *value = kSharedOptin;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    DeviceMemory& m = device_memory();
    std::lock_guard lock(m.mutex);
    *total_bytes = kDeviceMemory;
    *free_bytes = kDeviceMemory - m.used;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
    *ptr = nullptr;
    if (size == 0) return cudaSuccess;
    const size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
    DeviceMemory& m = device_memory();
    std::lock_guard lock(m.mutex);
    if (rounded > kDeviceMemory - m.used) return fail(cudaErrorMemoryAllocation);
    void* p = std::aligned_alloc(kAlignment, rounded);
    if (!p) return fail(cudaErrorMemoryAllocation);
    std::memset(p, 0xff, rounded);  // fresh device memory holds garbage: NaN as floats
    m.sizes.emplace(p, rounded);
    m.used += rounded;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    DeviceMemory& m = device_memory();
    std::lock_guard lock(m.mutex);
    const auto it = m.sizes.find(ptr);
    if (it == m.sizes.end()) return fail(cudaErrorInvalidValue);
    m.used -= it->second;
    m.sizes.erase(it);
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
    *ptr = std::malloc(size ? size : 1);
    return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFreeHost(void* ptr) {
    std::free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t size, cudaMemcpyKind, cudaStream_t stream) {
    if (size && (!dst || !src)) return fail(cudaErrorInvalidValue);
    return submit(stream, [dst, src, size]() {
        if (size) std::memmove(dst, src, size);
        return cudaSuccess;
    });
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t size, cudaStream_t stream) {
    if (size && !dst) return fail(cudaErrorInvalidValue);
    return submit(stream, [dst, value, size]() {
        if (size) std::memset(dst, value, size);
        return cudaSuccess;
    });
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
    *stream = new CUstream_st;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    CUstream_st& s = stream_of(stream);
    if (s.capturing) {  // illegal while capturing, and it spoils the capture, as on a GPU
        s.capture_failed = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
    if (!stream) return fail(cudaErrorStreamCaptureUnsupported);  // the legacy stream cannot be captured
    if (stream->capturing) return fail(cudaErrorInvalidValue);
    stream->capturing = true;
    stream->capture_failed = false;
    stream->captured.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
    *graph = nullptr;
    if (!stream || !stream->capturing) return fail(cudaErrorInvalidValue);
    stream->capturing = false;
    std::vector<Work> work = std::move(stream->captured);
    stream->captured.clear();
    if (stream->capture_failed) return fail(cudaErrorStreamCaptureInvalidated);
    *graph = new CUgraph_st{std::move(work)};
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
    *exec = nullptr;
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{graph->work};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return fail(cudaErrorInvalidValue);
    // Captured into a graph of its own, or run now, node after node.
    return submit(stream, [exec]() {
        for (const Work& w : exec->work) {
            if (const cudaError_t e = w(); e != cudaSuccess) return e;
        }
        return cudaSuccess;
    });
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
    *event = new CUevent_st;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!event) return fail(cudaErrorInvalidResourceHandle);
    return submit(stream, [event]() {
        event->at = std::chrono::steady_clock::now();
        event->recorded = true;
        return cudaSuccess;
    });
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    return event ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (!start || !end || !start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
    return cudaSuccess;
}
