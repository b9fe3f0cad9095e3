// Flags shared by the subcommands that run a model (run, eval, bench, test-backend):
// model, threads, context, KV cache type, RoPE overrides, backends, plugins, placement.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

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

    // Registers the flags on a subcommand. -m falls back to $LLAMUX_MODEL.
    void add_to(CLI::App& cmd);
    // Checks the values (throws Error naming the flag) and makes session options.
    SessionOptions session_options() const;
    // The model path: -m, else $LLAMUX_MODEL; Error naming both when neither is set.
    std::string model_path() const;
};

}  // namespace llamux::tools
