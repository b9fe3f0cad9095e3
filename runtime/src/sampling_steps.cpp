#include "sampling_steps.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "llamux/error.hpp"

namespace llamux::sampling {
namespace {

bool by_logit(const Candidate& a, const Candidate& b) { return a.logit > b.logit; }

void sort_by_logit(Candidates& c) {
    if (c.sorted) return;
    std::sort(c.data.begin(), c.data.end(), by_logit);
    c.sorted = true;
}

// The k largest logits of a long list, sorted: candidates are binned by logit over
// [-10, 10) first so that only the bins holding the top k are sorted (llama.cpp's scheme;
// a full sort of a 32000-token vocabulary costs several times more).
void top_k_bucketed(Candidates& c, size_t k) {
    constexpr int kBuckets = 128;
    constexpr float kLow = -10.0f, kHigh = 10.0f;
    constexpr float kScale = kBuckets / (kHigh - kLow);
    constexpr float kOffset = -kLow * kScale;
    std::vector<int> bucket(c.data.size());
    std::vector<size_t> count(kBuckets, 0);
    for (size_t i = 0; i < c.data.size(); ++i) {
        const int b = std::clamp(int(kScale * c.data[i].logit + kOffset), 0, kBuckets - 1);
        bucket[i] = b;
        ++count[size_t(b)];
    }
    // The lowest bucket still needed, and how many candidates the needed buckets hold.
    int lowest = kBuckets - 1;
    size_t held = 0;
    for (; lowest >= 0; --lowest) {
        held += count[size_t(lowest)];
        if (held >= k) break;
    }
    lowest = std::max(lowest, 0);
    // Gather the needed buckets, highest first, each keeping the candidates' order.
    std::vector<size_t> start(kBuckets, 0);
    size_t offset = 0;
    for (int b = kBuckets - 1; b >= lowest; --b) {
        start[size_t(b)] = offset;
        offset += count[size_t(b)];
    }
    std::vector<Candidate> gathered(held);
    for (size_t i = 0; i < c.data.size(); ++i) {
        if (bucket[i] >= lowest) gathered[start[size_t(bucket[i])]++] = c.data[i];
    }
    auto it = gathered.begin();
    size_t done = 0;
    for (int b = kBuckets - 1; b > lowest; --b) {
        const auto n = static_cast<std::ptrdiff_t>(count[size_t(b)]);
        std::sort(it, it + n, by_logit);
        it += n;
        done += count[size_t(b)];
    }
    std::partial_sort(it, it + static_cast<std::ptrdiff_t>(k - done),
                      it + static_cast<std::ptrdiff_t>(count[size_t(lowest)]), by_logit);
    gathered.resize(k);
    c.data = std::move(gathered);
}

}  // namespace

void Candidates::assign(const float* logits, size_t n) {
    data.resize(n);
    for (size_t i = 0; i < n; ++i) data[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
    sorted = false;
}

void softmax(Candidates& c) {
    sort_by_logit(c);
    if (c.data.empty() || c.data.front().logit == -INFINITY) {
        throw Error("sampling: no token left to draw (logit biases or the grammar exclude every one)");
    }
    const float max = c.data.front().logit;
    float sum = 0.0f;
    for (auto& x : c.data) {
        x.p = std::exp(x.logit - max);
        sum += x.p;
    }
    for (auto& x : c.data) x.p /= sum;
}

void top_k(Candidates& c, int32_t k) {
    const size_t n = c.data.size();
    const size_t keep = k <= 0 ? n : std::min(size_t(k), n);
    if (!c.sorted) {
        if (keep <= 128) {
            std::partial_sort(c.data.begin(), c.data.begin() + static_cast<std::ptrdiff_t>(keep),
                              c.data.end(), by_logit);
        } else {
            top_k_bucketed(c, keep);
        }
        c.sorted = true;
    }
    c.data.resize(keep);
}

void top_p(Candidates& c, float p, size_t min_keep) {
    if (p >= 1.0f) return;
    softmax(c);
    float sum = 0.0f;
    for (size_t i = 0; i < c.data.size(); ++i) {
        sum += c.data[i].p;
        if (sum >= p && i + 1 >= min_keep) {
            c.data.resize(i + 1);
            return;
        }
    }
}

void min_p(Candidates& c, float p, size_t min_keep) {
    if (p <= 0.0f || c.data.empty()) return;
    if (!c.sorted) {
        // Unsorted: filter by the threshold logit without sorting.
        float max = c.data.front().logit;
        for (const auto& x : c.data) max = std::max(max, x.logit);
        const float threshold = max + std::log(p);
        std::vector<Candidate> kept;
        for (const auto& x : c.data) {
            if (x.logit >= threshold) kept.push_back(x);
        }
        if (kept.size() >= min_keep) {
            c.data = std::move(kept);
            return;
        }
    }
    sort_by_logit(c);
    const float threshold = c.data.front().logit + std::log(p);
    size_t keep = 1;  // the most likely token always stays
    while (keep < c.data.size() && !(c.data[keep].logit < threshold && keep >= min_keep)) ++keep;
    c.data.resize(keep);
}

void typical(Candidates& c, float p, size_t min_keep) {
    if (p >= 1.0f) return;
    softmax(c);
    float entropy = 0.0f;
    for (const auto& x : c.data) entropy += -x.p * std::log(x.p);
    std::vector<float> distance(c.data.size());
    for (size_t i = 0; i < c.data.size(); ++i) {
        distance[i] = std::fabs(-std::log(c.data[i].p) - entropy);
    }
    std::vector<size_t> order(c.data.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return distance[a] < distance[b]; });
    float sum = 0.0f;
    size_t keep = order.size();
    for (size_t i = 0; i < order.size(); ++i) {
        sum += c.data[order[i]].p;
        // llama.cpp c392e50 tests i >= min_keep - 1 on an unsigned min_keep, so with its
        // default min_keep 0 typical sampling cuts nothing; we cut (as llama-cpp-python,
        // which passes min_keep 1, does).
        if (sum > p && i + 1 >= std::max<size_t>(min_keep, 1)) {
            keep = i + 1;
            break;
        }
    }
    std::vector<Candidate> kept(keep);
    for (size_t i = 0; i < keep; ++i) kept[i] = c.data[order[i]];
    c.data = std::move(kept);
    c.sorted = false;
}

void temperature(Candidates& c, float temp) {
    if (temp > 0.0f) {
        for (auto& x : c.data) x.logit /= temp;
        return;
    }
    size_t best = 0;
    for (size_t i = 1; i < c.data.size(); ++i) {
        if (c.data[i].logit > c.data[best].logit) {
            c.data[best].logit = -INFINITY;
            best = i;
        } else {
            c.data[i].logit = -INFINITY;
        }
    }
}

void temperature_ext(Candidates& c, float temp, float delta, float exponent) {
    if (delta <= 0.0f) {
        temperature(c, temp);
        return;
    }
    if (c.data.size() <= 1) return;
    const float low = std::max(0.0f, temp - delta);
    const float high = temp + delta;
    const float max_entropy = -std::log(1.0f / float(c.data.size()));
    softmax(c);
    float entropy = 0.0f;
    for (const auto& x : c.data) {
        if (x.p > 0.0f) entropy -= x.p * std::log(x.p);
    }
    temperature(c, low + (high - low) * std::pow(entropy / max_entropy, exponent));
    // Probabilities again, in double as llama.cpp does at this point.
    const double max = c.data.front().logit;
    double sum = 0.0;
    for (auto& x : c.data) {
        const double e = std::exp(double(x.logit) - max);
        x.p = float(e);
        sum += e;
    }
    for (auto& x : c.data) x.p = float(double(x.p) / sum);
}

void xtc(Candidates& c, float probability, float threshold, size_t min_keep, std::mt19937& rng) {
    if (probability <= 0.0f || threshold > 0.5f || c.data.size() < 2) return;
    std::uniform_real_distribution<float> chance(0.0f, 1.0f);
    if (chance(rng) > probability) return;
    softmax(c);
    size_t last_above = 0;
    for (size_t i = 0; i < c.data.size() && c.data[i].p >= threshold; ++i) last_above = i;
    if (c.data.size() - last_above >= min_keep && last_above > 0) {
        c.data.erase(c.data.begin(), c.data.begin() + static_cast<std::ptrdiff_t>(last_above));
    }
}

void top_n_sigma(Candidates& c, float n) {
    float max = c.data.front().logit;
    float sum = 0.0f;
    for (const auto& x : c.data) {
        max = std::max(max, x.logit);
        sum += x.logit;
    }
    const float mean = sum / float(c.data.size());
    float acc = 0.0f;
    for (const auto& x : c.data) acc = float(double(acc) + std::pow(double(x.logit - mean), 2));
    const float sigma = std::sqrt(acc / float(c.data.size()));
    for (auto& x : c.data) {
        if (x.logit < max - n * sigma) x.logit = -INFINITY;
    }
    softmax(c);
}

std::unordered_map<int32_t, int> token_counts(const std::vector<int32_t>& history, int32_t last_n) {
    const size_t n = last_n < 0 ? history.size() : std::min(history.size(), size_t(last_n));
    std::unordered_map<int32_t, int> counts;
    for (size_t i = history.size() - n; i < history.size(); ++i) ++counts[history[i]];
    return counts;
}

void penalties(Candidates& c, const std::unordered_map<int32_t, int>& counts, float repeat,
               float frequency, float presence) {
    if (counts.empty() || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
    auto penalise = [&](Candidate& x, int count) {
        x.logit = x.logit <= 0.0f ? x.logit * repeat : x.logit / repeat;
        x.logit -= float(count) * frequency + float(count > 0) * presence;
    };
    // Candidates still in id order are found by index; otherwise by a scan.
    const bool by_index = !c.sorted && std::all_of(counts.begin(), counts.end(), [&](const auto& kv) {
        return kv.first >= 0 && size_t(kv.first) < c.data.size() && c.data[size_t(kv.first)].id == kv.first;
    });
    if (by_index) {
        for (const auto& [id, count] : counts) penalise(c.data[size_t(id)], count);
    } else {
        for (auto& x : c.data) {
            const auto it = counts.find(x.id);
            if (it != counts.end()) penalise(x, it->second);
        }
    }
    c.sorted = false;
}

void logit_bias(Candidates& c, const std::vector<LogitBias>& biases) {
    for (const auto& [id, bias] : biases) {
        if (id >= 0 && size_t(id) < c.data.size() && c.data[size_t(id)].id == id) {
            c.data[size_t(id)].logit += bias;
            continue;
        }
        for (auto& x : c.data) {
            if (x.id == id) x.logit += bias;
        }
    }
}

size_t draw(Candidates& c, std::mt19937& rng) {
    softmax(c);
    std::vector<float> weights(c.data.size());
    for (size_t i = 0; i < c.data.size(); ++i) weights[i] = c.data[i].p;
    std::discrete_distribution<int> pick(weights.begin(), weights.end());
    return size_t(pick(rng));
}

size_t mirostat(Candidates& c, int32_t n_vocab, float tau, float eta, int32_t m, float& mu,
                std::mt19937& rng) {
    softmax(c);
    // Estimate the Zipf exponent s from the m most likely tokens.
    float sum_tb = 0.0f, sum_tt = 0.0f;
    for (size_t i = 0; i + 1 < size_t(m) && i + 1 < c.data.size(); ++i) {
        const float t = std::log(float(i + 2) / float(i + 1));
        const float b = std::log(c.data[i].p / c.data[i + 1].p);
        sum_tb += t * b;
        sum_tt += t * t;
    }
    const float s = sum_tb / sum_tt;
    const float epsilon = s - 1;
    const float k = std::pow((epsilon * std::pow(2.0f, mu)) / (1 - std::pow(float(n_vocab), -epsilon)),
                             1 / s);
    top_k(c, std::max(int(k), 1));
    const size_t pick = draw(c, rng);
    mu -= eta * (-std::log2(c.data[pick].p) - tau);
    return pick;
}

size_t mirostat_v2(Candidates& c, float tau, float eta, float& mu, std::mt19937& rng) {
    softmax(c);
    // Drop the tokens more surprising than mu (keeping at least one).
    size_t keep = 0;
    while (keep < c.data.size() && !(-std::log2(c.data[keep].p) > mu)) ++keep;
    c.data.resize(std::max<size_t>(keep, 1));
    const size_t pick = draw(c, rng);
    mu -= eta * (-std::log2(c.data[pick].p) - tau);
    return pick;
}

}  // namespace llamux::sampling
