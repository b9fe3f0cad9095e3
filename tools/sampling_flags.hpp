// Flags shared by the subcommands that sample tokens (run, chat): llama.cpp's sampling
// flags (seed, temperature, the chain's steps and their order, Mirostat, logit biases).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "llamux/sampler.hpp"

namespace llamux::tools {

struct SamplingFlags {
    int64_t seed = -1;
    SamplingParams sampling;
    std::vector<std::string> logit_bias;  // "TOKEN+BIAS" / "TOKEN-BIAS", as llama.cpp's -l
    bool ignore_eos = false;
    std::string samplers;      // --samplers, empty: the default order
    std::string sampling_seq;  // --sampling-seq

    void add_to(CLI::App& cmd);
    // The parameters with the seed, biases and order resolved; eos is the model's end of
    // text token (--ignore-eos bans it). Throws Error naming the flag for a bad value.
    SamplingParams params(int32_t eos) const;
};

}  // namespace llamux::tools
