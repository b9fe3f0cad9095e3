// DRY ("don't repeat yourself") repetition penalty, as llama.cpp's dry sampler (after
// Koboldcpp's): a token that would extend a sequence already seen in the recent tokens is
// penalised by multiplier * base^(length - allowed_length), where the length of a repeat
// stops at sequence breakers (text such as "\n" or ":" after which repeating is fine).
// Internal to the runtime; the Sampler calls it as the chain's "dry" step.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "sampling_steps.hpp"

namespace llamux {
class Tokenizer;
}

namespace llamux::sampling {

// Each breaker as token sequences: a head token maps to the tails that must follow it (an
// empty tail: the head's text contains the whole breaker). Built once per sampler by
// scanning the vocabulary (a token whose text ends with the start of a breaker heads the
// tokenization of the breaker's rest, cut to 20 tokens; breakers are cut to 40 bytes).
using DryBreakers = std::unordered_multimap<int32_t, std::vector<int32_t>>;
DryBreakers dry_breakers(const Tokenizer& tokenizer, const std::vector<std::string>& breakers);

struct DryParams {
    float multiplier = 0.0f;  // 0: off
    float base = 1.75f;       // < 1: off
    int32_t allowed_length = 2;
    int32_t last_n = -1;      // recent tokens looked at; -1: all, 0: off
};

// Lowers the logits of the tokens that would extend a repeat of the recent history.
void dry(Candidates& c, const std::vector<int32_t>& history, const DryParams& params,
         const DryBreakers& breakers);

}  // namespace llamux::sampling
