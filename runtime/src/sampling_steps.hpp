// The steps of the sampling chain, each on a list of candidate tokens, as llama.cpp's
// samplers (src/llama-sampling.cpp at c392e50) compute them: float arithmetic, the same
// sort and cut rules, so that a seeded run draws the tokens llama.cpp draws from the same
// logits. Internal to the runtime; Sampler (llamux/sampler.hpp) strings them together.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "llamux/sampler.hpp"

namespace llamux::sampling {

struct Candidate {
    int32_t id;
    float logit;
    float p;  // valid after softmax()
};

struct Candidates {
    std::vector<Candidate> data;  // in id order until a step sorts it
    bool sorted = false;          // by logit, largest first

    // Every token of a row of logits, in id order.
    void assign(const float* logits, size_t n);
};

// Sorts (if not yet) and sets p to the softmax of the logits (float sums, as llama.cpp).
// Throws Error when no candidate has a finite logit (all banned): nothing can be drawn.
void softmax(Candidates& c);
// Keeps the k largest logits, sorted. k <= 0: all of them (sorted).
void top_k(Candidates& c, int32_t k);
// Keeps the smallest prefix whose probabilities sum to at least p (and min_keep tokens).
void top_p(Candidates& c, float p, size_t min_keep);
// Keeps the tokens with logit >= max + log(p), i.e. probability >= p * the largest.
void min_p(Candidates& c, float p, size_t min_keep);
// Locally typical sampling: keeps the tokens whose surprise is closest to the entropy,
// until their probabilities sum past p. Leaves the list unsorted.
void typical(Candidates& c, float p, size_t min_keep);
// Divides the logits by temp; temp <= 0 keeps only the largest logit (others -inf).
void temperature(Candidates& c, float temp);
// Dynamic temperature: temp +/- delta, chosen by the normalized entropy to the power
// exponent. delta <= 0: plain temperature().
void temperature_ext(Candidates& c, float temp, float delta, float exponent);
// Exclude Top Choices: with chance `probability`, drops every token above `threshold`
// probability but the least likely of them.
void xtc(Candidates& c, float probability, float threshold, size_t min_keep, std::mt19937& rng);
// Keeps the tokens within n standard deviations of the largest logit (others -inf).
void top_n_sigma(Candidates& c, float n);

// How often each token occurs in the last n tokens of a history (n < 0: all of it).
std::unordered_map<int32_t, int> token_counts(const std::vector<int32_t>& history, int32_t last_n);
// Repeat (divide positive logits, multiply negative ones), frequency (times the count)
// and presence (once) penalties for the counted tokens.
void penalties(Candidates& c, const std::unordered_map<int32_t, int>& counts, float repeat,
               float frequency, float presence);
// Adds a bias to the logit of each listed token.
void logit_bias(Candidates& c, const std::vector<LogitBias>& biases);

// Softmax, then a draw from the probabilities: the index into c.data.
size_t draw(Candidates& c, std::mt19937& rng);
// Mirostat (v1; m: tokens used to estimate the Zipf exponent) and Mirostat 2.0: a draw
// whose surprise tracks tau, updating mu. Return the index into c.data.
size_t mirostat(Candidates& c, int32_t n_vocab, float tau, float eta, int32_t m, float& mu,
                std::mt19937& rng);
size_t mirostat_v2(Candidates& c, float tau, float eta, float& mu, std::mt19937& rng);

}  // namespace llamux::sampling
