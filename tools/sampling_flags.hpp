// Flags shared by the subcommands that sample tokens (run, chat): llama.cpp main's seed,
// temperature, top-k, top-p, min-p and repeat penalty.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>

#include "llamux/sampler.hpp"

namespace llamux::tools {

struct SamplingFlags {
    int64_t seed = -1;
    SamplingParams sampling;

    void add_to(CLI::App& cmd);
    // The parameters with the seed resolved; Error naming -s for a seed out of range.
    SamplingParams params() const;
};

}  // namespace llamux::tools
