// The CUDA plugin's environment knobs (the table in docs/backends/cuda.md), read and checked
// once when a backend is created: create refuses a malformed value with a message naming
// the variable, what it accepts and what it got, so that a typo never silently runs
// something else. Plain C++, so the parsing is tested on every machine
// (tests/unit/test_cuda_settings.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace llamux::cuda {

// What the knobs say; the defaults are what an unset or empty variable means.
struct Settings {
    // LLAMUX_CUDA_MEMORY_LIMIT_MIB (whole MiB from 1): act as if the GPU had only this many
    // bytes (cuda_memory.cpp); 0 for no limit.
    size_t memory_limit = 0;
    // LLAMUX_CUDA_FUSE (0 to 6): how many of the launch-saving fusions run (fuse_nodes in
    // cuda_program.cpp says what each level adds; 3 is the last one measured faster).
    int fusion_level = 3;
    // LLAMUX_CUDA_SPLIT_ATTENTION_FROM (cache rows, 0 up): token generation's attention splits
    // along the cache from this many filled rows on (cuda_attention_split.cu).
    int64_t split_attention_from = 1024;
    // The switches, each "0" or "1".
    bool graphs = true;           // LLAMUX_CUDA_GRAPHS: replay token generation as CUDA graphs
    bool pdl = true;              // LLAMUX_CUDA_PDL: programmatic dependent launch (sm_90 up)
    bool early_weights = false;   // LLAMUX_CUDA_EARLY_WEIGHTS: GEMV weight loads before the wait
    bool weights_first = false;   // LLAMUX_CUDA_WEIGHTS_FIRST: the plain GEMV's weights-first walk
    bool split_blocks = false;    // LLAMUX_CUDA_SPLIT_BLOCKS: weight rows as bodies, then scales
    bool profile = false;         // LLAMUX_CUDA_PROFILE: GPU time per node kind at release
};

// Looks a variable up: its value, or null when it is not set.
using EnvLookup = std::function<const char*(const char* name)>;

// Every knob from `env` into *out: true when all are unset, empty or well formed; otherwise
// false at the first malformed one with *why = "NAME: expected ..., got 'VALUE'" (*out then
// holds the defaults for that knob and those after it).
bool read_settings(const EnvLookup& env, Settings* out, std::string* why);
// The same from the process environment.
bool read_settings(Settings* out, std::string* why);

// LLAMUX_CUDA_MEMORY_LIMIT_MIB alone, in bytes (0 when unset, empty or malformed): the probe
// reports memory through it before any backend exists.
size_t memory_limit_from_env();

}  // namespace llamux::cuda
