// The generation loop of `llamux run`: prompt evaluation in batches, then token by token.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "llamux/grammar.hpp"
#include "llamux/sampler.hpp"
#include "llamux/session.hpp"

namespace llamux {

struct GenerateOptions {
    int32_t n_predict = -1;  // -1: until end of text (or a full context without shifts)
    // What a full context does. false: generation stops there. true: llama.cpp main's
    // context shift: when the next token would take the context's last position, the kept
    // tokens stay and half of those after them are dropped (Session::shift), so generation
    // can go on without end.
    bool context_shift = false;
    // Prompt tokens a shift keeps, BOS not counted (it is always kept); < 0 or more than the
    // prompt: all of them. As llama.cpp's --keep.
    int32_t n_keep = 0;
    // When >= 0, the cache positions a shift keeps, counted from the start of the cache, in
    // place of n_keep (a later turn of an interactive run keeps what its first prompt kept:
    // pass that turn's GenerateStats::kept_positions).
    int32_t kept_positions = -1;
    // Leading prompt tokens the sampler's penalties do not see (an interactive turn's first
    // token is the previous turn's last, which llama.cpp's main evaluates after resetting
    // its sampler). At most the prompt's length.
    int32_t n_unseen = 0;
    SamplingParams sampling;
    // When set, the text stays in this grammar's language (GBNF, llamux/grammar.hpp) and
    // ends where the grammar allows end of text and the model chooses it.
    std::shared_ptr<const Grammar> grammar;
    // The prompt replaces what the cache holds rather than following it: the prefix they
    // share is kept and only the rest evaluated (Session::prefill), as llama.cpp's
    // --prompt-cache does with a loaded session.
    bool reuse_cache = false;
    // Called once the prompt is evaluated, before the first token is sampled (where
    // llama.cpp's main saves its prompt cache).
    std::function<void()> after_prompt;
};

struct GenerateStats {
    int32_t n_prompt = 0;
    int32_t n_cached = 0;  // prompt tokens the cache already held (reuse_cache)
    int32_t n_generated = 0;
    double prompt_ms = 0.0;
    double generate_ms = 0.0;
    bool hit_eos = false;
    bool context_full = false;  // stopped because the context was full
    int32_t n_shifts = 0;       // context shifts made
    int32_t kept_positions = 0; // cache positions a context shift keeps
};

// llama.cpp main's context shift before evaluating n_next more tokens: when they would reach
// the end of the context, half of the positions after the first kept_positions are dropped
// (Session::shift). Returns whether it shifted (false also when nothing can be dropped).
bool shift_context_for(Session& session, int32_t kept_positions, int64_t n_next);

// Evaluates `prompt` (already tokenized, BOS included if wanted) from the session's current
// position, then samples up to n_predict tokens, calling on_token for each (end of text
// excluded). on_token returning false stops early. The last sampled token (end of text
// included) is not evaluated: a caller that goes on puts it first in its next prompt. A
// prompt that follows what the cache holds and does not fit shifts the context first
// when context_shift is on (as llama.cpp's main does with typed input); Error if it still
// does not fit.
GenerateStats generate(Session& session, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options,
                       const std::function<bool(int32_t token)>& on_token);

}  // namespace llamux
