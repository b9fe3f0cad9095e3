// Grammars in sampling: a model's vocabulary as a grammar sees it, and the TokenConstraint
// that keeps a generated text inside a grammar's language (llamux/sampler.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "llamux/grammar.hpp"
#include "llamux/sampler.hpp"

namespace llamux {

class Tokenizer;

// The bytes each token appends to a generated text (tokenizer.token_to_bytes: "▁" as a
// space, <0xNN> as the byte); control and unknown tokens append nothing a grammar could
// match, so a grammar never allows them. End tokens: end of text, plus `extra_ends` (a chat
// format's end-of-turn tokens), allowed where the grammar is complete. Building walks the
// whole vocabulary (a few ms for 32000 tokens): make one per model and share it.
std::shared_ptr<const GrammarVocab> grammar_vocab(const Tokenizer& tokenizer,
                                                  const std::vector<int32_t>& extra_ends = {});

// A constraint for one generated text, starting at the grammar's start. Keeps the grammar
// and the vocabulary alive.
std::unique_ptr<TokenConstraint> grammar_constraint(std::shared_ptr<const Grammar> grammar,
                                                    std::shared_ptr<const GrammarVocab> vocab);

}  // namespace llamux
