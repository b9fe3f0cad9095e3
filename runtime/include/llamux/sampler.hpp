// Token sampling with llama.cpp main's knobs and order: repeat penalty, top-k, top-p,
// min-p, temperature, then a draw from a seeded RNG. Temperature <= 0 is greedy (argmax).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace llamux {

struct SamplingParams {
    float temperature = 0.8f;
    int32_t top_k = 40;          // <= 0: off
    float top_p = 0.95f;         // >= 1: off
    float min_p = 0.05f;         // <= 0: off
    float repeat_penalty = 1.0f; // 1: off
    int32_t repeat_last_n = 64;  // how many recent tokens the penalty looks at
    uint32_t seed = 0xFFFFFFFFu; // 0xFFFFFFFF: a random seed
};

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // Chooses the next token from one row of logits given the tokens so far.
    int32_t sample(const std::vector<float>& logits, const std::vector<int32_t>& history);
    uint32_t seed() const { return seed_; }

private:
    SamplingParams params_;
    uint32_t seed_;
    std::mt19937 rng_;
};

// Index of the largest value; the first one on ties.
int32_t argmax(const float* values, size_t n);

// The log-softmax of one row of logits, in llama.cpp's perplexity precision (float
// differences from the maximum, a double sum of their exponentials): of(x) = log p.
struct LogSoftmax {
    float max = 0.0f;
    double log_sum = 0.0;
    double of(float logit) const { return static_cast<double>(logit - max) - log_sum; }
};
LogSoftmax log_softmax(const float* logits, size_t n);

}  // namespace llamux
