// The CPU plugin's ABI table: host memory; weights read from the mmapped file or from the
// backend's resident copies (cpu_weights.cpp).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <utility>

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"
#include "llamux/host_threads.hpp"
#include "llamux/plugin_support.hpp"

namespace {

using llamux::cpu::CpuBackend;
using llamux::cpu::CpuProgram;
namespace plugin = llamux::plugin;

CpuBackend* as_cpu(lmx_backend* b) { return reinterpret_cast<CpuBackend*>(b); }

void cpu_probe(lmx_probe_result* out) {
    out->score = 10;
    out->n_devices = 1;
    __builtin_cpu_init();
    std::string features = "scalar";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) features = "AVX2 FMA";
    plugin::set_text(out->device, "host CPU, " + features + ", " +
                                      std::to_string(std::thread::hardware_concurrency()) +
                                      " hardware threads, " + std::to_string(llamux::default_thread_count()) +
                                      " threads by default (one per core)");
    plugin::set_text(out->reason, "");
}

lmx_status cpu_create(const lmx_backend_config* config, lmx_backend** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto b = std::make_unique<CpuBackend>();
        if (config) b->config = *config;
        b->n_threads = config && config->n_threads > 0 ? config->n_threads : llamux::default_thread_count();
        // The pool has the larger of the two counts; programs of the smaller run narrow loops.
        const int32_t batch = config && config->n_threads_batch > 0 ? config->n_threads_batch : b->n_threads;
        b->isa = llamux::cpu::detect_isa();
        const char* huge = std::getenv("LLAMUX_CPU_HUGE_PAGES");
        b->huge_pages = huge && std::strcmp(huge, "1") == 0;
        b->pool = std::make_unique<llamux::cpu::ThreadPool>(std::max(b->n_threads, batch), std::min(b->n_threads, batch));
        const std::string prompts =
            batch != b->n_threads ? " (" + std::to_string(batch) + " for prompts)" : std::string();
        plugin::log(b->config, 2,
                    std::to_string(b->n_threads) + " threads" + prompts + ", " +
                        llamux::cpu::isa_name(b->isa) + " kernels" +
                        (b->huge_pages ? ", large weights copied into huge pages" : ""));
        *out = reinterpret_cast<lmx_backend*>(b.release());
        return LMX_OK;
    });
}

void cpu_destroy(lmx_backend* b) { delete as_cpu(b); }

int32_t cpu_supports_node(lmx_backend*, const lmx_node* node) {
    return node && llamux::cpu::supports(*node) ? 1 : 0;
}

int32_t cpu_is_host_memory(lmx_backend*) { return 1; }

// Activations and the KV cache: zero pages until written, so a cache sized for the whole
// context takes memory only as tokens fill it (in steps of 2 MiB). Huge pages because
// attention reads each head's few hundred bytes of a cache row at a stride of the whole
// row: with 4 KiB pages nearly every key is a TLB miss (docs/performance.md, "Attention
// deep into the context").
lmx_status cpu_buffer_alloc(lmx_backend*, size_t size, lmx_buffer** out, void** base,
                            lmx_error* err) {
    auto memory = llamux::cpu::HugePageMemory::allocate(size, true);  // zero-filled
    auto* owner = memory.data()
                      ? new (std::nothrow) llamux::cpu::HugePageMemory(std::move(memory))
                      : nullptr;
    if (!owner) {
        plugin::set_error(err, "cannot allocate " + std::to_string(size) + " bytes of host memory");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    *out = reinterpret_cast<lmx_buffer*>(owner);
    *base = owner->data();
    return LMX_OK;
}

void cpu_buffer_free(lmx_backend*, lmx_buffer* buffer) {
    delete reinterpret_cast<llamux::cpu::HugePageMemory*>(buffer);
}

lmx_status cpu_tensor_write(lmx_backend*, lmx_tensor* dst, const void* src, size_t offset,
                            size_t size, lmx_error*) {
    std::memcpy(static_cast<char*>(dst->data) + offset, src, size);
    return LMX_OK;
}

lmx_status cpu_tensor_read(lmx_backend*, const lmx_tensor* src, void* dst, size_t offset,
                           size_t size, lmx_error*) {
    std::memcpy(dst, static_cast<const char*>(src->data) + offset, size);
    return LMX_OK;
}

lmx_status cpu_prepare_weight(lmx_backend* b, lmx_tensor* weight, const void* host_data,
                              lmx_error* err) {
    return plugin::guarded(err, [&] {
        llamux::cpu::prepare_weight(*as_cpu(b), *weight, host_data);
        return LMX_OK;
    });
}

void cpu_release_weight(lmx_backend* b, lmx_tensor* weight) {
    llamux::cpu::release_weight(*as_cpu(b), *weight);
}

lmx_status cpu_compile(lmx_backend* b, const lmx_node* nodes, int32_t n_nodes,
                       lmx_program** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto p = std::make_unique<CpuProgram>();
        llamux::cpu::compile(*as_cpu(b), nodes, n_nodes, p.get());
        *out = reinterpret_cast<lmx_program*>(p.release());
        return LMX_OK;
    });
}

lmx_status cpu_execute(lmx_backend* b, lmx_program* program, const lmx_exec_args* args,
                       lmx_error* err) {
    return plugin::guarded(err, [&] {
        std::string message;
        const lmx_status s = llamux::cpu::execute(*as_cpu(b), *reinterpret_cast<CpuProgram*>(program),
                                                  *args, &message);
        if (s != LMX_OK) plugin::set_error(err, message);
        return s;
    });
}

void cpu_program_free(lmx_backend*, lmx_program* program) {
    delete reinterpret_cast<CpuProgram*>(program);
}

lmx_status cpu_synchronize(lmx_backend*, lmx_error*) { return LMX_OK; }

const lmx_backend_api kApi = {
    LMX_ABI_VERSION,
    sizeof(lmx_backend_api),
    "cpu",
    "host CPU: AVX2/AVX-512 kernels with scalar fallback, persistent thread pool",
    cpu_probe,
    cpu_create,
    cpu_destroy,
    cpu_supports_node,
    cpu_is_host_memory,
    cpu_buffer_alloc,
    cpu_buffer_free,
    cpu_tensor_write,
    cpu_tensor_read,
    cpu_prepare_weight,
    cpu_release_weight,
    cpu_compile,
    cpu_execute,
    cpu_program_free,
    cpu_synchronize,
};

}  // namespace

// Always returns the table: the host compares abi_version and names both on a mismatch.
extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t /*host_abi*/) {
    return &kApi;
}
