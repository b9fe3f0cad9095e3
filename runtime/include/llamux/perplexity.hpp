// Perplexity of a model on a text, computed as llama.cpp's perplexity tool computes it, so
// the two numbers can be compared for the same file (quantization quality checks).
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <vector>

#include "llamux/session.hpp"

namespace llamux {

struct PerplexityOptions {
    int32_t n_ctx = 512;     // tokens per chunk (each chunk is evaluated from an empty cache)
    int32_t n_chunks = -1;   // at most this many chunks; -1: as many as the text holds
    // When set, every scored prediction's log-probabilities go there as llama.cpp's
    // --kl-divergence-base file (llamux/kl_divergence.hpp), and the negative
    // log-likelihoods are taken as llama.cpp takes them in that mode (in float).
    std::ostream* base_out = nullptr;
};

struct PerplexityResult {
    int32_t n_chunks = 0;
    int64_t n_scored = 0;         // predictions counted: (n_ctx - 1 - n_ctx / 2) per chunk
    double ppl = 0.0;             // exp(mean negative log-likelihood)
    double ppl_error = 0.0;       // ppl times the standard error of that mean (llama.cpp's +/-)
    std::vector<double> running;  // ppl after each chunk
};

// `tokens` is the whole text tokenized with BOS first when the model adds one. The text is
// cut into chunks of n_ctx tokens (a remainder is dropped); each chunk starts from an empty
// cache with its first token replaced by BOS (when the model adds one), and only its second
// half is scored: the predictions of tokens n_ctx / 2 + 1 .. n_ctx - 1 of the chunk, each
// from all the tokens before it. log-softmax in float with a double sum, as llama.cpp.
// on_chunk(i, ppl so far) is called after each chunk. Throws Error when the text has fewer
// than 2 * n_ctx tokens or n_ctx exceeds the session's context.
PerplexityResult perplexity(Session& session, const std::vector<int32_t>& tokens,
                            const PerplexityOptions& options,
                            const std::function<void(int32_t chunk, double ppl)>& on_chunk = {});

}  // namespace llamux
