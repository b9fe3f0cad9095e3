// Token sampling with llama.cpp's knobs, order and arithmetic (common/sampling.cpp at
// c392e50): logit biases, then the chain (by default penalties, DRY, top-k, typical-p,
// top-p, min-p, XTC, temperature) and a draw from a seeded mt19937; or Mirostat 1/2 in place of
// the chain. Given the same logits and seed, a run draws the tokens llama.cpp draws.
// Temperature <= 0 keeps only the most likely token that survives the chain (greedy).
// An optional constraint (a grammar) limits the tokens that may come next.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llamux {

// The steps of the sampling chain, as llama.cpp's --samplers names them.
enum class SamplerStep { Penalties, Dry, TopK, TypicalP, TopP, MinP, Xtc, Temperature };

struct LogitBias {
    int32_t token;
    float bias;  // added to the token's logit; -INFINITY bans it
};

struct SamplingParams {
    float temperature = 0.8f;
    int32_t top_k = 40;          // <= 0: off
    float top_p = 0.95f;         // >= 1: off
    float min_p = 0.05f;         // <= 0: off
    float repeat_penalty = 1.0f; // 1: off
    int32_t repeat_last_n = 64;  // how many recent tokens the penalties look at (-1: all)
    uint32_t seed = 0xFFFFFFFFu; // 0xFFFFFFFF: a random seed
    float frequency_penalty = 0.0f;  // subtracted once per occurrence; 0: off
    float presence_penalty = 0.0f;   // subtracted once if present; 0: off
    float typical_p = 1.0f;          // >= 1: off
    float dynatemp_range = 0.0f;     // temperature +/- this by entropy; 0: off
    float dynatemp_exponent = 1.0f;
    float xtc_probability = 0.0f;    // chance of excluding the top choices; 0: off
    float xtc_threshold = 0.1f;      // > 0.5: off
    float top_n_sigma = -1.0f;       // >= 0: top-k, temperature, top-n-sigma only
    int32_t mirostat = 0;            // 0: off, 1: Mirostat, 2: Mirostat 2.0
    float mirostat_tau = 5.0f;       // target surprise
    float mirostat_eta = 0.1f;       // learning rate
    int32_t min_keep = 0;            // tokens every cutting step keeps at least
    // DRY: tokens that extend a repeat of the recent text lose
    // multiplier * base^(repeat length - allowed length); the sequence breakers end repeats.
    float dry_multiplier = 0.0f;     // 0: off
    float dry_base = 1.75f;
    int32_t dry_allowed_length = 2;
    int32_t dry_penalty_last_n = -1;  // tokens looked at; -1: all, 0: off
    std::vector<std::string> dry_sequence_breakers = {"\n", ":", "\"", "*"};
    std::vector<LogitBias> logit_bias;
    std::vector<SamplerStep> order = {SamplerStep::Penalties, SamplerStep::Dry,
                                      SamplerStep::TopK,      SamplerStep::TypicalP,
                                      SamplerStep::TopP,      SamplerStep::MinP,
                                      SamplerStep::Xtc,       SamplerStep::Temperature};
};

// Throws Error naming the llama.cpp flag when a value is out of range (e.g. --mirostat 3).
void check_sampling_params(const SamplingParams& params);

// "penalties;top_k;typ_p;top_p;min_p;xtc;temperature" (llama.cpp's --samplers names and
// aliases such as top-k, typical, temp) or its letters "ekypmxt" (--sampling-seq).
// Throws Error naming `flag` and the unknown name or letter.
std::vector<SamplerStep> parse_sampler_names(const std::string& names, const std::string& flag);
std::vector<SamplerStep> parse_sampler_letters(const std::string& letters, const std::string& flag);

// Limits the tokens that may come next (implemented by a grammar). The sampler owns it.
class TokenConstraint {
public:
    virtual ~TokenConstraint() = default;
    virtual bool allows(int32_t token) const = 0;
    // mask[id] = 1 for every allowed token (mask has n_vocab entries on return).
    virtual void allowed(std::vector<uint8_t>& mask) const = 0;
    // The token was chosen: move past it. Only called with allowed tokens.
    virtual void accept(int32_t token) = 0;
};

class Tokenizer;

class Sampler {
public:
    // Throws Error as check_sampling_params, and when DRY is on without a tokenizer (its
    // sequence breakers are found in the vocabulary; the tokenizer is not kept).
    explicit Sampler(const SamplingParams& params, const Tokenizer* tokenizer = nullptr);
    ~Sampler();
    Sampler(Sampler&&) noexcept;
    Sampler& operator=(Sampler&&) noexcept;

    // Chooses the next token from one row of logits given the tokens so far (prompt
    // included: the penalties count them). With a constraint, the token is drawn as
    // llama.cpp does: from the unconstrained chain first, and if the constraint refuses
    // it, again from the logits with the refused tokens removed; the constraint then
    // accepts it. Throws Error when the constraint allows no token at all.
    int32_t sample(const std::vector<float>& logits, const std::vector<int32_t>& history);
    uint32_t seed() const { return seed_; }
    // Replaces the constraint (null: none), e.g. a fresh grammar state for the next answer
    // of a chat; the generators keep their state.
    void set_constraint(std::unique_ptr<TokenConstraint> constraint) { constraint_ = std::move(constraint); }

private:
    struct State;
    int32_t draw_from_chain(const std::vector<float>& logits, const std::vector<int32_t>& history,
                            bool constrained);
    bool is_plain_greedy() const;

    SamplingParams params_;
    uint32_t seed_;
    std::unique_ptr<TokenConstraint> constraint_;
    std::unique_ptr<State> state_;
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
