#include "session_flags.hpp"

#include <cmath>
#include <cstdlib>
#include <utility>

#include "llamux/error.hpp"

namespace llamux::tools {

void SessionFlags::add_to(CLI::App& cmd) {
    cmd.add_option("-m,--model", model, "GGUF model file (default: $LLAMUX_MODEL)");
    cmd.add_option("-t,--threads", threads, "CPU threads (default: all cores)");
    cmd.add_option("-c,--ctx-size", ctx, "Context size in tokens (default: the model's, at most 4096)");
    cmd.add_option("-b,--batch-size", batch, "Prompt tokens evaluated at once (default 512)");
    cmd.add_option("--cache-type-k", cache_type_k, "KV cache type for keys (-ctk): f16 (default) or f32");
    cmd.add_option("--cache-type-v", cache_type_v, "KV cache type for values (-ctv): f16 (default) or f32");
    cmd.add_option("--rope-freq-base", rope_freq_base, "RoPE base frequency (default: the model's)");
    cmd.add_option("--rope-freq-scale", rope_freq_scale,
                   "RoPE frequency scale: positions times this (linear scaling; default: the model's)");
    cmd.add_option("--rope-scale", rope_scale, "RoPE context scaling factor: --rope-freq-scale 1/N");
    cmd.add_option("--backend", backend, "Backend for the layers not placed otherwise (default cpu)");
    cmd.add_option("--n-gpu-layers", n_gpu_layers,
                   "-ngl N: put the last N blocks on the GPU backend (N > blocks: the head too)");
    cmd.add_option("--placement", placement,
                   "Per-layer backends, e.g. 0-15:onednn,16-31:cuda,output:cuda");
    cmd.add_option("--plugin-dir", plugin_dirs, "Also search this folder for plugins (repeatable)");
    cmd.add_option("--plugin", plugin_files, "Also consider this plugin file (repeatable)");
}

std::string SessionFlags::model_path() const {
    if (!model.empty()) return model;
    if (const char* env = std::getenv("LLAMUX_MODEL"); env && *env) return env;
    throw Error("no model: pass -m MODEL.gguf or set LLAMUX_MODEL");
}

SessionOptions SessionFlags::session_options() const {
    if (threads < 0) throw Error("-t: expected a thread count >= 0, got " + std::to_string(threads));
    if (ctx < 0) throw Error("-c: expected a context size >= 0, got " + std::to_string(ctx));
    if (batch <= 0) throw Error("-b: expected a batch size >= 1, got " + std::to_string(batch));
    if (n_gpu_layers < 0) {
        throw Error("-ngl: expected a layer count >= 0, got " + std::to_string(n_gpu_layers));
    }
    if (rope_scale != 0.0f && rope_freq_scale != 0.0f) {
        throw Error("--rope-scale and --rope-freq-scale: give only one");
    }
    if (rope_scale < 0.0f || std::isnan(rope_scale)) {
        throw Error("--rope-scale: expected a factor > 0, got " + std::to_string(rope_scale));
    }
    for (const auto& [flag, type] : {std::pair{"-ctk", &cache_type_k}, std::pair{"-ctv", &cache_type_v}}) {
        if (*type != "f16" && *type != "f32") {
            throw Error(std::string(flag) + ": expected f16 or f32 (quantized caches are not supported), got " + *type);
        }
    }
    if (cache_type_k != cache_type_v) {
        throw Error("-ctk and -ctv: keys and values share one cache type here, got " + cache_type_k + " and " +
                    cache_type_v);
    }
    SessionOptions o;
    o.kv_type = cache_type_k == "f32" ? DType::F32 : DType::F16;
    o.rope_freq_base = rope_freq_base;
    o.rope_freq_scale = rope_scale > 0.0f ? 1.0f / rope_scale : rope_freq_scale;
    o.n_threads = threads;
    o.n_ctx = ctx;
    o.n_batch = batch;
    o.placement.default_backend = backend;
    o.placement.n_gpu_layers = n_gpu_layers;
    o.placement.map = placement;
    for (const auto& d : plugin_dirs) o.plugins.dirs.emplace_back(d);
    for (const auto& f : plugin_files) o.plugins.files.emplace_back(f);
    return o;
}

}  // namespace llamux::tools
