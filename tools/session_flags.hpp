// Flags shared by the subcommands that run a model (run, eval, bench, test-backend):
// model, threads, context, KV cache type, RoPE overrides, backends, plugins, placement,
// and llama.cpp's loading and batching flags (--no-mmap, --mlock, -ub, -tb, -fa, -mg, -sm).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "llamux/model.hpp"
#include "llamux/session.hpp"

namespace llamux::tools {

struct SessionFlags {
    std::string model;
    int32_t threads = 0;
    int32_t ctx = 0;
    int32_t batch = 512;
    std::string backend = "cpu";
    int32_t n_gpu_layers = 0;
    std::string placement;
    std::vector<std::string> plugin_dirs;
    std::vector<std::string> plugin_files;
    float rope_freq_base = 0.0f;
    float rope_freq_scale = 0.0f;
    float rope_scale = 0.0f;  // --rope-scale N: --rope-freq-scale 1/N
    std::string cache_type_k = "f16";  // -ctk
    std::string cache_type_v = "f16";  // -ctv
    // llama.cpp's loading and batching flags.
    bool no_mmap = false;          // --no-mmap: read the file into memory
    bool mlock = false;            // --mlock: keep the model's pages in RAM
    int32_t ubatch = 0;            // -ub: llama.cpp's physical batch; 0: as -b
    int32_t threads_batch = 0;     // -tb: threads for prompts; 0: as -t
    std::string flash_attn;        // -fa [on|off|1|0|auto]: accepted; attention is always fused
    int32_t main_gpu = 0;          // -mg: only the first visible GPU (0)
    std::string split_mode;        // -sm: none or layer (one GPU: the same)

    // Registers the flags on a subcommand. -m falls back to $LLAMUX_MODEL. Without
    // single_values, -t, -ngl, -ctk, -ctv, -b, -ub and -fa are left to the subcommand (bench
    // takes lists), and -tb is not taken (llama-bench has none).
    void add_to(CLI::App& cmd, bool single_values = true);
    // A -fa value: on, off, auto, 1, 0 or empty (the flag alone); Error naming -fa otherwise.
    static void check_flash_attn(const std::string& value);
    // Checks the values (throws Error naming the flag) and makes session options.
    SessionOptions session_options() const;
    // A -ctk/-ctv value (llama.cpp's type names) as a type; Error naming `flag` otherwise.
    static DType kv_cache_type(const char* flag, const std::string& name);
    // The model path: -m, else $LLAMUX_MODEL; Error naming both when neither is set.
    std::string model_path() const;
    // Loads the model of model_path() as --no-mmap and --mlock ask. Throws Error.
    std::shared_ptr<const Model> load_model() const;
};

}  // namespace llamux::tools
