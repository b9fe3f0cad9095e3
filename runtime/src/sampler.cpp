#include "llamux/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "llamux/error.hpp"
#include "sampling_dry.hpp"
#include "sampling_steps.hpp"

namespace llamux {

int32_t argmax(const float* values, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i) {
        if (values[i] > values[best]) best = i;
    }
    return static_cast<int32_t>(best);
}

LogSoftmax log_softmax(const float* logits, size_t n) {
    LogSoftmax r;
    r.max = *std::max_element(logits, logits + n);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(logits[i] - r.max);
    r.log_sum = std::log(sum);
    return r;
}

void check_sampling_params(const SamplingParams& p) {
    if (p.mirostat < 0 || p.mirostat > 2) {
        throw Error("--mirostat: expected 0 (off), 1 or 2, got " + std::to_string(p.mirostat));
    }
    if (p.dry_allowed_length < 0) {
        throw Error("--dry-allowed-length: expected a count >= 0, got " + std::to_string(p.dry_allowed_length));
    }
    if (p.dry_penalty_last_n < -1) {
        throw Error("--dry-penalty-last-n: expected -1 (all) or a count >= 0, got " +
                    std::to_string(p.dry_penalty_last_n));
    }
    if (p.min_keep < 0) {
        throw Error("--min-keep: expected a count >= 0, got " + std::to_string(p.min_keep));
    }
    if (p.repeat_last_n < -1) {
        throw Error("--repeat-last-n: expected -1 (all) or a count >= 0, got " +
                    std::to_string(p.repeat_last_n));
    }
    for (const LogitBias& b : p.logit_bias) {
        if (b.token < 0) {
            throw Error("--logit-bias: expected a token id >= 0, got " + std::to_string(b.token));
        }
        if (std::isnan(b.bias)) {
            throw Error("--logit-bias: token " + std::to_string(b.token) + " has a NaN bias");
        }
    }
}

// The generators of the steps that draw, each seeded as llama.cpp seeds its own.
struct Sampler::State {
    sampling::Candidates candidates;
    std::mt19937 dist_rng;
    std::mt19937 xtc_rng;
    float mu = 0.0f;  // Mirostat's running maximum surprise
    std::vector<uint8_t> mask;
    sampling::DryBreakers dry_breakers;
};

namespace {

bool dry_on(const SamplingParams& p) {
    return p.dry_multiplier != 0.0f && p.dry_base >= 1.0f && p.dry_penalty_last_n != 0 &&
           p.mirostat == 0 && p.top_n_sigma < 0.0f &&
           std::find(p.order.begin(), p.order.end(), SamplerStep::Dry) != p.order.end();
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, const Tokenizer* tokenizer)
    : params_(params),
      seed_(params.seed == 0xFFFFFFFFu ? std::random_device{}() : params.seed),
      state_(std::make_unique<State>()) {
    check_sampling_params(params_);
    if (dry_on(params_)) {
        if (!tokenizer) throw Error("--dry-multiplier: DRY needs the model's vocabulary (no tokenizer given)");
        state_->dry_breakers = sampling::dry_breakers(*tokenizer, params_.dry_sequence_breakers);
    }
    state_->dist_rng.seed(seed_);
    state_->xtc_rng.seed(seed_);
    state_->mu = 2.0f * params_.mirostat_tau;
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

bool Sampler::is_plain_greedy() const {
    // Settings under which the whole chain reduces to the argmax of the logits.
    const SamplingParams& p = params_;
    const bool penalised = p.repeat_last_n != 0 && (p.repeat_penalty != 1.0f ||
                                                    p.frequency_penalty != 0.0f ||
                                                    p.presence_penalty != 0.0f);
    const bool tempered = p.top_n_sigma >= 0.0f ||
                          std::find(p.order.begin(), p.order.end(), SamplerStep::Temperature) != p.order.end();
    return p.temperature <= 0.0f && tempered && p.mirostat == 0 && !penalised && !dry_on(p) &&
           p.logit_bias.empty() && p.typical_p >= 1.0f && p.dynatemp_range <= 0.0f &&
           (p.xtc_probability <= 0.0f || p.xtc_threshold > 0.5f);
}

int32_t Sampler::sample(const std::vector<float>& logits, const std::vector<int32_t>& history) {
    if (logits.empty()) throw Error("sample: no logits");
    for (const LogitBias& b : params_.logit_bias) {
        if (size_t(b.token) >= logits.size()) {
            throw Error("--logit-bias: token " + std::to_string(b.token) + " is outside the vocabulary (0.." +
                        std::to_string(logits.size() - 1) + ")");
        }
    }
    int32_t token = draw_from_chain(logits, history, false);
    if (constraint_) {
        if (!constraint_->allows(token)) token = draw_from_chain(logits, history, true);
        constraint_->accept(token);
    }
    return token;
}

int32_t Sampler::draw_from_chain(const std::vector<float>& logits,
                                 const std::vector<int32_t>& history, bool constrained) {
    namespace s = sampling;
    const SamplingParams& p = params_;
    if (constrained) {
        constraint_->allowed(state_->mask);
        bool any = false;
        for (size_t i = 0; i < logits.size() && !any; ++i) any = state_->mask[i] != 0;
        if (!any) throw Error("grammar: no token of the vocabulary can continue the text");
    }
    if (is_plain_greedy()) {
        if (!constrained) return argmax(logits.data(), logits.size());
        int32_t best = -1;
        for (size_t i = 0; i < logits.size(); ++i) {
            if (state_->mask[i] && (best < 0 || logits[i] > logits[size_t(best)])) best = int32_t(i);
        }
        return best;
    }

    s::Candidates& c = state_->candidates;
    c.assign(logits.data(), logits.size());
    if (constrained) {
        for (auto& x : c.data) {
            if (!state_->mask[size_t(x.id)]) x.logit = -INFINITY;
        }
    }
    s::logit_bias(c, p.logit_bias);

    const size_t min_keep = size_t(p.min_keep);
    if (p.mirostat == 1) {
        s::temperature(c, p.temperature);
        const int32_t n_vocab = static_cast<int32_t>(logits.size());
        return c.data[s::mirostat(c, n_vocab, p.mirostat_tau, p.mirostat_eta, 100, state_->mu,
                                  state_->dist_rng)].id;
    }
    if (p.mirostat == 2) {
        s::temperature(c, p.temperature);
        return c.data[s::mirostat_v2(c, p.mirostat_tau, p.mirostat_eta, state_->mu,
                                     state_->dist_rng)].id;
    }
    if (p.top_n_sigma >= 0.0f) {
        s::top_k(c, p.top_k);
        s::temperature(c, p.temperature);
        s::top_n_sigma(c, p.top_n_sigma);
    } else {
        for (SamplerStep step : p.order) {
            switch (step) {
                case SamplerStep::Penalties:
                    if (p.repeat_last_n != 0) {
                        s::penalties(c, s::token_counts(history, p.repeat_last_n), p.repeat_penalty,
                                     p.frequency_penalty, p.presence_penalty);
                    }
                    break;
                case SamplerStep::Dry:
                    s::dry(c, history,
                           {p.dry_multiplier, p.dry_base, p.dry_allowed_length, p.dry_penalty_last_n},
                           state_->dry_breakers);
                    break;
                case SamplerStep::TopK: s::top_k(c, p.top_k); break;
                case SamplerStep::TypicalP: s::typical(c, p.typical_p, min_keep); break;
                case SamplerStep::TopP: s::top_p(c, p.top_p, min_keep); break;
                case SamplerStep::MinP: s::min_p(c, p.min_p, min_keep); break;
                case SamplerStep::Xtc:
                    s::xtc(c, p.xtc_probability, p.xtc_threshold, min_keep, state_->xtc_rng);
                    break;
                case SamplerStep::Temperature:
                    s::temperature_ext(c, p.temperature, p.dynatemp_range, p.dynatemp_exponent);
                    break;
            }
        }
    }
    return c.data[s::draw(c, state_->dist_rng)].id;
}

}  // namespace llamux
