// The example plugin's ABI table: the one exported symbol and the functions it points to.
//
// Lifetimes, as backend_abi.h states them:
//   create .. destroy              one Backend per create; the host may create several
//   buffer_alloc .. buffer_free    activations and KV caches, host memory here
//   prepare_weight .. release_weight   weights; zero-copy: data points into the host's mmap
//   compile .. program_free        a Program; its nodes and tensors stay put until freed
// Nothing here throws across the boundary: plugin::guarded turns exceptions into a status.
#include <cstdlib>
#include <cstring>
#include <new>

#include "example_backend.hpp"
#include "llamux/plugin_support.hpp"

namespace {

namespace plugin = llamux::plugin;
using example::Backend;
using example::Program;

constexpr size_t kAlignment = 64;

Backend* as_backend(lmx_backend* b) { return reinterpret_cast<Backend*>(b); }
Program* as_program(lmx_program* p) { return reinterpret_cast<Program*>(p); }

// Cheap, and never fails: plain C++ runs on any host. A GPU plugin would look for a
// device and a driver here and answer score 0 with the reason when there is none.
void example_probe(lmx_probe_result* out) {
    out->score = 1;  // below the CPU plugin's: never chosen over it automatically
    out->n_devices = 1;
    out->memory_total = 0;
    out->memory_free = 0;
    plugin::set_text(out->device, "host CPU, plain C++ (add, swiglu, rms_norm)");
    plugin::set_text(out->reason, "");
}

lmx_status example_create(const lmx_backend_config* config, lmx_backend** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto* b = new Backend();
        if (config) b->config = *config;
        plugin::log(b->config, 1, "example backend created");
        *out = reinterpret_cast<lmx_backend*>(b);
        return LMX_OK;
    });
}

void example_destroy(lmx_backend* b) { delete as_backend(b); }

int32_t example_supports_node(lmx_backend*, const lmx_node* node) {
    return node && example::supports(*node) ? 1 : 0;
}

int32_t example_is_host_memory(lmx_backend*) { return 1; }

lmx_status example_buffer_alloc(lmx_backend*, size_t size, lmx_buffer** out, void** base,
                                lmx_error* err) {
    const size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, rounded ? rounded : kAlignment);
    if (!p) {
        plugin::set_error(err, "cannot allocate " + std::to_string(size) + " bytes of host memory");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    std::memset(p, 0, rounded ? rounded : kAlignment);  // the ABI promises zero-filled memory
    *out = static_cast<lmx_buffer*>(p);
    *base = p;
    return LMX_OK;
}

void example_buffer_free(lmx_backend*, lmx_buffer* buffer) { std::free(buffer); }

lmx_status example_tensor_write(lmx_backend*, lmx_tensor* dst, const void* src, size_t offset,
                                size_t size, lmx_error*) {
    std::memcpy(static_cast<char*>(dst->data) + offset, src, size);
    return LMX_OK;
}

lmx_status example_tensor_read(lmx_backend*, const lmx_tensor* src, void* dst, size_t offset,
                               size_t size, lmx_error*) {
    std::memcpy(dst, static_cast<const char*>(src->data) + offset, size);
    return LMX_OK;
}

// Zero-copy: the weight's bytes stay in the host's mapping of the model file. A backend
// that wants another layout would allocate here, repack host_data into it, point data
// (or extra) at the copy and free it in release_weight; a device backend would upload.
lmx_status example_prepare_weight(lmx_backend*, lmx_tensor* weight, const void* host_data,
                                  lmx_error*) {
    weight->data = const_cast<void*>(host_data);
    weight->extra = nullptr;
    return LMX_OK;
}

void example_release_weight(lmx_backend*, lmx_tensor* weight) {
    weight->data = nullptr;
    weight->extra = nullptr;
}

lmx_status example_compile(lmx_backend*, const lmx_node* nodes, int32_t n_nodes,
                           lmx_program** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto* p = new Program();
        std::string message;
        const lmx_status s = example::compile(nodes, n_nodes, *p, &message);
        if (s != LMX_OK) {
            delete p;
            plugin::set_error(err, message);
            return s;
        }
        *out = reinterpret_cast<lmx_program*>(p);
        return LMX_OK;
    });
}

lmx_status example_execute(lmx_backend*, lmx_program* program, const lmx_exec_args*,
                           lmx_error* err) {
    return plugin::guarded(err, [&] {
        std::string message;
        const lmx_status s = example::execute(*as_program(program), &message);
        if (s != LMX_OK) plugin::set_error(err, message);
        return s;
    });
}

void example_program_free(lmx_backend*, lmx_program* program) { delete as_program(program); }

// Everything ran synchronously in execute: nothing to wait for.
lmx_status example_synchronize(lmx_backend*, lmx_error*) { return LMX_OK; }

const lmx_backend_api kApi = {
    LMX_ABI_VERSION,
    sizeof(lmx_backend_api),
    "example",
    "example plugin: add, swiglu and rms_norm in plain C++; declines the rest",
    example_probe,
    example_create,
    example_destroy,
    example_supports_node,
    example_is_host_memory,
    example_buffer_alloc,
    example_buffer_free,
    example_tensor_write,
    example_tensor_read,
    example_prepare_weight,
    example_release_weight,
    example_compile,
    example_execute,
    example_program_free,
    example_synchronize,
};

}  // namespace

// The plugin's only export. It returns the table whatever the host's version, so that a
// host of another ABI version can name both versions when it refuses the plugin.
extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t /*host_abi*/) {
    return &kApi;
}
