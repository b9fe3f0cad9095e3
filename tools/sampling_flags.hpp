// Flags shared by the subcommands that sample tokens (run, chat): llama.cpp's sampling
// flags (seed, temperature, the chain's steps and their order, Mirostat, logit biases) and
// its grammar flags.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "llamux/grammar.hpp"
#include "llamux/sampler.hpp"

namespace llamux::tools {

struct SamplingFlags {
    int64_t seed = -1;
    SamplingParams sampling;
    std::vector<std::string> logit_bias;  // "TOKEN+BIAS" / "TOKEN-BIAS", as llama.cpp's -l
    bool ignore_eos = false;
    std::string samplers;      // --samplers, empty: the default order
    std::string sampling_seq;  // --sampling-seq
    std::vector<std::string> dry_breakers;  // --dry-sequence-breaker: replace the defaults
    std::string grammar;       // --grammar: GBNF text
    std::string grammar_file;  // --grammar-file: a GBNF file
    std::string json_schema;   // -j/--json-schema: a JSON schema, turned into a grammar

    void add_to(CLI::App& cmd);
    // The parameters with the seed, biases and order resolved; eos is the model's end of
    // text token (--ignore-eos bans it). Throws Error naming the flag for a bad value.
    SamplingParams params(int32_t eos) const;
    // The grammar of --grammar, --grammar-file or -j (at most one of them); null when none.
    // Throws Error naming the flag or file for a bad grammar or schema.
    std::shared_ptr<const Grammar> grammar_constraint() const;
};

}  // namespace llamux::tools
