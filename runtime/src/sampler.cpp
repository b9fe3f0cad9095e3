#include "llamux/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

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

Sampler::Sampler(const SamplingParams& params)
    : params_(params),
      seed_(params.seed == 0xFFFFFFFFu ? std::random_device{}() : params.seed),
      rng_(seed_) {}

int32_t Sampler::sample(const std::vector<float>& logits, const std::vector<int32_t>& history) {
    if (params_.temperature <= 0.0f) return argmax(logits.data(), logits.size());

    struct Candidate {
        int32_t id;
        float logit;
        float p;
    };
    std::vector<Candidate> cand(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) cand[i] = {static_cast<int32_t>(i), logits[i], 0.0f};

    // Repeat penalty (llama.cpp's): divide positive logits, multiply negative ones.
    if (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) {
        const size_t n = params_.repeat_last_n < 0
                             ? history.size()
                             : std::min(history.size(), size_t(params_.repeat_last_n));
        std::unordered_set<int32_t> recent(history.end() - static_cast<std::ptrdiff_t>(n),
                                           history.end());
        for (int32_t id : recent) {
            if (id < 0 || size_t(id) >= cand.size()) continue;
            float& l = cand[size_t(id)].logit;
            l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
        }
    }
    std::sort(cand.begin(), cand.end(),
              [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
    if (params_.top_k > 0 && size_t(params_.top_k) < cand.size()) cand.resize(size_t(params_.top_k));

    auto softmax = [&cand] {
        const float max = cand.front().logit;
        double sum = 0.0;
        for (auto& c : cand) {
            c.p = std::exp(c.logit - max);
            sum += c.p;
        }
        for (auto& c : cand) c.p = static_cast<float>(c.p / sum);
    };
    softmax();
    if (params_.top_p < 1.0f) {
        double cum = 0.0;
        size_t keep = cand.size();
        for (size_t i = 0; i < cand.size(); ++i) {
            cum += cand[i].p;
            if (cum >= params_.top_p) {
                keep = i + 1;
                break;
            }
        }
        cand.resize(keep);
    }
    if (params_.min_p > 0.0f) {
        const float threshold = cand.front().p * params_.min_p;
        size_t keep = 1;
        while (keep < cand.size() && cand[keep].p >= threshold) ++keep;
        cand.resize(keep);
    }
    for (auto& c : cand) c.logit /= params_.temperature;
    softmax();
    std::vector<float> weights(cand.size());
    for (size_t i = 0; i < cand.size(); ++i) weights[i] = cand[i].p;
    std::discrete_distribution<size_t> dist(weights.begin(), weights.end());
    return cand[dist(rng_)].id;
}

}  // namespace llamux
