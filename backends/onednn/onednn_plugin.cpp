// The oneDNN plugin's ABI table: host memory, matmul weights reordered for oneDNN at load,
// programs of oneDNN primitives built at compile and only run at execute.
//
// Threads: Debian's libdnnl 2.6 uses the OpenMP CPU runtime (DNNL_CPU_RUNTIME ==
// DNNL_RUNTIME_OMP), which has no per-call thread setting; every entry point that builds or
// runs primitives sets omp_set_num_threads(n_threads) for its duration (ThreadScope) and
// restores the caller's value, so `-t` governs oneDNN and the plugin's own loops alike.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "llamux/host_threads.hpp"
#include "llamux/plugin_support.hpp"
#include "onednn_backend.hpp"

namespace {

using llamux::onednn::OnednnBackend;
using llamux::onednn::Program;
using llamux::onednn::WeightPolicy;
namespace onednn = llamux::onednn;
namespace plugin = llamux::plugin;

constexpr size_t kBufferAlignment = 64;

OnednnBackend* as_backend(lmx_backend* b) { return reinterpret_cast<OnednnBackend*>(b); }

std::string isa_name(dnnl::cpu_isa isa) {
    switch (isa) {
        case dnnl::cpu_isa::sse41: return "SSE4.1";
        case dnnl::cpu_isa::avx: return "AVX";
        case dnnl::cpu_isa::avx2: return "AVX2";
        case dnnl::cpu_isa::avx2_vnni: return "AVX2 VNNI";
        case dnnl::cpu_isa::avx512_core: return "AVX-512";
        case dnnl::cpu_isa::avx512_core_vnni: return "AVX-512 VNNI";
        case dnnl::cpu_isa::avx512_core_bf16: return "AVX-512 BF16";
        case dnnl::cpu_isa::avx512_core_amx: return "AVX-512 BF16 AMX";
        default: return "ISA " + std::to_string(static_cast<int>(isa));
    }
}

// bf16 matmuls run natively: the CPU has AVX-512 BF16 and oneDNN may use it (DNNL_MAX_CPU_ISA
// can lower what oneDNN uses).
bool native_bf16() {
    __builtin_cpu_init();
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return __builtin_cpu_supports("avx512bf16") && (isa & bf16) == bf16;
}

// LLAMUX_ONEDNN_WEIGHTS: auto (default), f32 or bf16; see WeightPolicy.
bool weight_policy(WeightPolicy* out, std::string* why) {
    const char* env = std::getenv("LLAMUX_ONEDNN_WEIGHTS");
    const std::string value = env ? env : "";
    if (value.empty() || value == "auto") {
        *out = WeightPolicy::Auto;
    } else if (value == "f32") {
        *out = WeightPolicy::F32;
    } else if (value == "bf16") {
        *out = WeightPolicy::Bf16;
    } else {
        *why = "LLAMUX_ONEDNN_WEIGHTS: expected auto, f32 or bf16, got '" + value + "'";
        return false;
    }
    return true;
}

void onednn_probe(lmx_probe_result* out) {
    out->n_devices = 1;
    const dnnl_version_t* v = dnnl::version();
    const std::string version = "oneDNN " + std::to_string(v->major) + "." +
                                std::to_string(v->minor) + "." + std::to_string(v->patch);
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    if (isa == dnnl::cpu_isa::all) {
        out->score = 0;
        plugin::set_text(out->device, version);
        plugin::set_text(out->reason, "oneDNN needs at least SSE4.1 on this CPU");
        return;
    }
    out->score = 5;  // below the CPU backend: chosen by name (--backend onednn)
    const unsigned hw = std::thread::hardware_concurrency();
    plugin::set_text(out->device, version + " on host CPU, " + isa_name(isa) + ", " +
                                      std::to_string(hw) + " hardware threads");
    plugin::set_text(out->reason, native_bf16() ? "quantized weights held as bf16"
                                                : "quantized weights held as f32");
}

lmx_status onednn_create(const lmx_backend_config* config, lmx_backend** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto b = std::make_unique<OnednnBackend>();
        if (config) b->config = *config;
        b->n_threads = config && config->n_threads > 0 ? config->n_threads : llamux::default_thread_count();
        b->engine = dnnl::engine(dnnl::engine::kind::cpu, 0);
        b->stream = dnnl::stream(b->engine);
        std::string why;
        if (!weight_policy(&b->policy, &why)) {
            plugin::set_error(err, why);
            return LMX_ERR_INVALID;
        }
        b->native_bf16 = native_bf16();
        onednn::log(*b, 2,
                    "oneDNN " + std::to_string(dnnl::version()->major) + "." +
                        std::to_string(dnnl::version()->minor) + ", " +
                        isa_name(dnnl::get_effective_cpu_isa()) + ", " +
                        std::to_string(b->n_threads) + " OpenMP threads" +
                        (config && config->n_threads_batch > 0 && config->n_threads_batch != b->n_threads
                             ? " (" + std::to_string(config->n_threads_batch) + " for prompts)"
                             : std::string()) +
                        "; weights: quantized as " +
                        (onednn::held_type(*b, LMX_TYPE_Q4_0) == dnnl::memory::data_type::bf16 ? "bf16" : "f32") +
                        ", f16 as " +
                        (onednn::held_type(*b, LMX_TYPE_F16) == dnnl::memory::data_type::bf16 ? "bf16" : "f32"));
        *out = reinterpret_cast<lmx_backend*>(b.release());
        return LMX_OK;
    });
}

void onednn_destroy(lmx_backend* b) { delete as_backend(b); }

int32_t onednn_supports_node(lmx_backend* b, const lmx_node* node) {
    try {
        return node && node->dst && onednn::supports(*as_backend(b), *node) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

int32_t onednn_is_host_memory(lmx_backend*) { return 1; }

// calloc, not aligned_alloc + memset: a large block comes from the kernel as zero pages, so a
// KV cache sized for the whole context takes memory only as tokens fill it. The block is
// the buffer handle; base is its first 64-byte boundary.
lmx_status onednn_buffer_alloc(lmx_backend*, size_t size, lmx_buffer** out, void** base,
                               lmx_error* err) {
    void* p = std::calloc(size + kBufferAlignment, 1);
    if (!p) {
        plugin::set_error(err, "cannot allocate " + std::to_string(size) + " bytes of host memory");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    const auto address = reinterpret_cast<uintptr_t>(p);
    *out = static_cast<lmx_buffer*>(p);
    *base = reinterpret_cast<void*>((address + kBufferAlignment - 1) / kBufferAlignment *
                                    kBufferAlignment);
    return LMX_OK;
}

void onednn_buffer_free(lmx_backend*, lmx_buffer* buffer) { std::free(buffer); }

lmx_status onednn_tensor_write(lmx_backend*, lmx_tensor* dst, const void* src, size_t offset,
                               size_t size, lmx_error*) {
    std::memcpy(static_cast<char*>(dst->data) + offset, src, size);
    return LMX_OK;
}

lmx_status onednn_tensor_read(lmx_backend*, const lmx_tensor* src, void* dst, size_t offset,
                              size_t size, lmx_error*) {
    std::memcpy(dst, static_cast<const char*>(src->data) + offset, size);
    return LMX_OK;
}

lmx_status onednn_prepare_weight(lmx_backend* b, lmx_tensor* weight, const void* host_data,
                                 lmx_error* err) {
    return plugin::guarded(err, [&] {
        std::string why;
        lmx_status s = LMX_OK;
        try {
            s = onednn::prepare_weight(*as_backend(b), *weight, host_data, &why);
        } catch (const dnnl::error& e) {
            why = std::string(weight->name ? weight->name : "weight") + ": oneDNN: " + e.what();
            s = LMX_ERR_INTERNAL;
        }
        if (s != LMX_OK) plugin::set_error(err, why);
        return s;
    });
}

void onednn_release_weight(lmx_backend* b, lmx_tensor* weight) {
    onednn::release_weight(*as_backend(b), *weight);
}

lmx_status onednn_compile(lmx_backend* b, const lmx_node* nodes, int32_t n_nodes,
                          lmx_program** out, lmx_error* err) {
    return plugin::guarded(err, [&] {
        auto program = std::make_unique<Program>();
        std::string why;
        const lmx_status s = onednn::compile(*as_backend(b), nodes, n_nodes, *program, &why);
        if (s != LMX_OK) {
            plugin::set_error(err, why);
            return s;
        }
        *out = reinterpret_cast<lmx_program*>(program.release());
        return LMX_OK;
    });
}

lmx_status onednn_execute(lmx_backend* b, lmx_program* program, const lmx_exec_args* args,
                          lmx_error* err) {
    return plugin::guarded(err, [&] {
        OnednnBackend& backend = *as_backend(b);
        onednn::ThreadScope threads(reinterpret_cast<Program*>(program)->threads);
        std::string why;
        bool queued = false;  // primitives submitted since the last wait
        for (auto& step : reinterpret_cast<Program*>(program)->steps) {
            if (step.host && queued) {
                backend.stream.wait();
                queued = false;
            }
            lmx_status s = LMX_OK;
            try {
                s = step.run(*args, &why);
            } catch (const dnnl::error& e) {
                why = std::string("oneDNN: ") + e.what();
                s = LMX_ERR_INTERNAL;
            }
            if (s != LMX_OK) {
                plugin::set_error(err, step.what + ": " + why);
                return s;
            }
            queued = queued || !step.host;
        }
        backend.stream.wait();
        return LMX_OK;
    });
}

void onednn_program_free(lmx_backend*, lmx_program* program) {
    delete reinterpret_cast<Program*>(program);
}

lmx_status onednn_synchronize(lmx_backend* b, lmx_error* err) {
    return plugin::guarded(err, [&] {
        as_backend(b)->stream.wait();
        return LMX_OK;
    });
}

const lmx_backend_api kApi = {
    LMX_ABI_VERSION,
    sizeof(lmx_backend_api),
    "onednn",
    "oneDNN primitives on the host CPU (matmuls in bf16/f32, AMX where present)",
    onednn_probe,
    onednn_create,
    onednn_destroy,
    onednn_supports_node,
    onednn_is_host_memory,
    onednn_buffer_alloc,
    onednn_buffer_free,
    onednn_tensor_write,
    onednn_tensor_read,
    onednn_prepare_weight,
    onednn_release_weight,
    onednn_compile,
    onednn_execute,
    onednn_program_free,
    onednn_synchronize,
};

}  // namespace

// Always returns the table: the host compares abi_version and names both on a mismatch.
extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t /*host_abi*/) {
    return &kApi;
}
