#include "session_flags.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "llamux/dtype.hpp"
#include "llamux/error.hpp"
#include "llamux/llama_graph.hpp"
#include "llamux/log.hpp"

namespace llamux::tools {

// llama.cpp's type names, lower case as it requires.
DType SessionFlags::kv_cache_type(const char* flag, const std::string& name) {
    const std::optional<DType> t = dtype_from_name(name);
    const bool allowed = t && std::string(info(*t).name) == name &&
                         std::find(kKvCacheTypes.begin(), kKvCacheTypes.end(), *t) != kKvCacheTypes.end();
    if (!allowed) {
        const std::string why = name == "iq4_nl" ? " (llamux has no iq4_nl type)" : "";
        throw Error(std::string(flag) + ": expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got " + name + why);
    }
    return *t;
}

void SessionFlags::add_to(CLI::App& cmd, bool single_values) {
    cmd.add_option("-m,--model", model, "GGUF model file (default: $LLAMUX_MODEL)");
    if (single_values) cmd.add_option("-t,--threads", threads, "CPU threads (default: one per physical core)");
    cmd.add_option("-c,--ctx-size", ctx, "Context size in tokens (default: the model's, at most 4096)");
    if (single_values) {
        cmd.add_option("-b,--batch-size", batch, "Prompt tokens evaluated at once (default 512)");
        cmd.add_option("--cache-type-k", cache_type_k,
                       "KV cache type for keys (-ctk): f16 (default), f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1");
        cmd.add_option("--cache-type-v", cache_type_v, "KV cache type for values (-ctv): the same choices as -ctk");
    }
    cmd.add_option("--rope-freq-base", rope_freq_base, "RoPE base frequency (default: the model's)");
    cmd.add_option("--rope-freq-scale", rope_freq_scale,
                   "RoPE frequency scale: positions times this (linear scaling; default: the model's)");
    cmd.add_option("--rope-scale", rope_scale, "RoPE context scaling factor: --rope-freq-scale 1/N");
    cmd.add_option("--backend", backend, "Backend for the layers not placed otherwise (default cpu)");
    if (single_values) {
        cmd.add_option("--n-gpu-layers,--gpu-layers", n_gpu_layers,
                       "-ngl N: put the last N blocks on the GPU backend (N > blocks: the head too)");
    }
    cmd.add_option("--placement", placement,
                   "Per-layer backends, e.g. 0-15:onednn,16-31:cuda,output:cuda");
    cmd.add_option("--plugin-dir", plugin_dirs, "Also search this folder for plugins (repeatable)");
    cmd.add_option("--plugin", plugin_files, "Also consider this plugin file (repeatable)");
    cmd.add_flag("--no-mmap", no_mmap, "Read the model into memory instead of mapping the file");
    cmd.add_flag("--mlock", mlock, "Keep the model in RAM (warns when the memory-lock limit is too low)");
    if (single_values) {
        cmd.add_option("--ubatch-size", ubatch, "-ub N: evaluate prompts at most N tokens at a time (as -b)");
    }
    if (single_values) {
        cmd.add_option("--threads-batch", threads_batch,
                       "-tb N: CPU threads for prompts (batches of more than one token; default: as -t)");
        cmd.add_option("--flash-attn", flash_attn,
                       "-fa [on|off]: accepted for llama.cpp's sake; attention is always one fused kernel")
            ->expected(0, 1);
    }
    cmd.add_option("--main-gpu", main_gpu, "-mg: the GPU (only 0: the first visible; see CUDA_VISIBLE_DEVICES)");
    cmd.add_option("--split-mode", split_mode, "-sm none|layer: accepted (one GPU); row is not supported");
}

std::string SessionFlags::model_path() const {
    if (!model.empty()) return model;
    if (const char* env = std::getenv("LLAMUX_MODEL"); env && *env) return env;
    throw Error("no model: pass -m MODEL.gguf or set LLAMUX_MODEL");
}

std::shared_ptr<const Model> SessionFlags::load_model() const {
    LoadOptions options;
    options.use_mmap = !no_mmap;
    options.use_mlock = mlock;
    return Model::load(model_path(), options);
}

namespace {

// The llama.cpp flags taken for its users' sake: values llamux cannot honour are errors,
// the rest change nothing.
void check_llama_cpp_flags(const SessionFlags& f) {
    SessionFlags::check_flash_attn(f.flash_attn);
    if (f.main_gpu != 0) {
        throw Error("-mg: llamux uses the first visible GPU (0); got " + std::to_string(f.main_gpu) +
                    ": choose the card with CUDA_VISIBLE_DEVICES");
    }
    if (!f.split_mode.empty() && f.split_mode != "none" && f.split_mode != "layer") {
        throw Error("-sm: expected none or layer (llamux offloads to one GPU), got " + f.split_mode);
    }
    if (f.ubatch < 0) throw Error("-ub: expected a batch size >= 1, got " + std::to_string(f.ubatch));
    if (f.threads_batch < 0) throw Error("-tb: expected a thread count >= 0, got " + std::to_string(f.threads_batch));
}

}  // namespace

void SessionFlags::check_flash_attn(const std::string& value) {
    static const char* const kFlashAttn[] = {"", "on", "off", "auto", "1", "0"};
    if (std::find(std::begin(kFlashAttn), std::end(kFlashAttn), value) == std::end(kFlashAttn)) {
        throw Error("-fa: expected on, off, auto, 1 or 0, got " + value);
    }
}

SessionOptions SessionFlags::session_options() const {
    check_llama_cpp_flags(*this);
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
    SessionOptions o;
    o.kv_type_k = kv_cache_type("-ctk", cache_type_k);
    o.kv_type_v = kv_cache_type("-ctv", cache_type_v);
    o.rope_freq_base = rope_freq_base;
    o.rope_freq_scale = rope_scale > 0.0f ? 1.0f / rope_scale : rope_freq_scale;
    o.n_threads = threads;
    o.n_threads_batch = threads_batch;
    o.n_ctx = ctx;
    o.n_batch = ubatch > 0 ? std::min(batch, ubatch) : batch;
    o.placement.default_backend = backend;
    o.placement.n_gpu_layers = n_gpu_layers;
    o.placement.map = placement;
    for (const auto& d : plugin_dirs) o.plugins.dirs.emplace_back(d);
    for (const auto& f : plugin_files) o.plugins.files.emplace_back(f);
    return o;
}

}  // namespace llamux::tools
