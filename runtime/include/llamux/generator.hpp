// The generation loop of `llamux run`: prompt evaluation in batches, then token by token.
#pragma once

#include <functional>
#include <vector>

#include "llamux/sampler.hpp"
#include "llamux/session.hpp"

namespace llamux {

struct GenerateOptions {
    int32_t n_predict = -1;  // -1: until end of text or a full context
    SamplingParams sampling;
};

struct GenerateStats {
    int32_t n_prompt = 0;
    int32_t n_generated = 0;
    double prompt_ms = 0.0;
    double generate_ms = 0.0;
    bool hit_eos = false;
    bool context_full = false;
};

// Evaluates `prompt` (already tokenized, BOS included if wanted) from the session's current
// position, then samples up to n_predict tokens, calling on_token for each (end of text
// excluded). on_token returning false stops early.
GenerateStats generate(Session& session, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options,
                       const std::function<bool(int32_t token)>& on_token);

}  // namespace llamux
