#include "sampling_dry.hpp"

#include <algorithm>
#include <cmath>

#include "llamux/tokenizer.hpp"

namespace llamux::sampling {
namespace {

constexpr size_t kMaxBreakerBytes = 40;
constexpr size_t kMaxTailTokens = 20;

void add_unique(DryBreakers& breakers, int32_t head, std::vector<int32_t> tail) {
    const auto [first, last] = breakers.equal_range(head);
    for (auto it = first; it != last; ++it) {
        if (it->second == tail) return;
    }
    breakers.emplace(head, std::move(tail));
}

}  // namespace

DryBreakers dry_breakers(const Tokenizer& tokenizer, const std::vector<std::string>& breakers) {
    DryBreakers out;
    for (std::string breaker : breakers) {
        if (breaker.empty()) continue;
        if (breaker.size() > kMaxBreakerBytes) breaker.resize(kMaxBreakerBytes);
        for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
            const std::string text = tokenizer.decode({id});
            if (text.find(breaker) != std::string::npos) {
                out.emplace(id, std::vector<int32_t>{});
                continue;
            }
            // Every place where the token's text ends with a start of the breaker.
            for (size_t pos = text.find(breaker[0]); pos != std::string::npos;
                 pos = text.find(breaker[0], pos + 1)) {
                const size_t n = text.size() - pos;  // bytes of the breaker the token holds
                if (n >= breaker.size() || text.compare(pos, n, breaker, 0, n) != 0) continue;
                std::vector<int32_t> tail = tokenizer.encode(breaker.substr(n), false);
                if (tail.size() > kMaxTailTokens) tail.resize(kMaxTailTokens);
                add_unique(out, id, std::move(tail));
            }
        }
    }
    return out;
}

void dry(Candidates& c, const std::vector<int32_t>& history, const DryParams& p,
         const DryBreakers& breakers) {
    if (p.multiplier == 0.0f || p.base < 1.0f || p.last_n == 0) return;
    const int n = static_cast<int>(p.last_n < 0 ? history.size()
                                                : std::min(history.size(), size_t(p.last_n)));
    if (n <= p.allowed_length) return;
    // back(i): the i-th token from the end (0: the last one).
    const auto back = [&](int i) { return history[history.size() - 1 - size_t(i)]; };

    // 1. A breaker in the recent tokens limits how far back a repeat may reach: the nearest
    //    one (with the longest tail that matches there) sets the limit.
    int limit = n;
    for (int i = 0; i < n; ++i) {
        const auto [first, last] = breakers.equal_range(back(i));
        int longest = -1;
        for (auto it = first; it != last; ++it) {
            const int len = static_cast<int>(it->second.size());
            if (len <= longest || len > i) continue;
            bool match = true;
            for (int k = 0; k < len && match; ++k) match = it->second[size_t(k)] == back(i - k - 1);
            if (match) longest = len;
        }
        if (longest >= 0) {
            limit = i - longest;
            break;
        }
    }
    if (limit < p.allowed_length) return;

    // 2. For each position, how many tokens before it repeat the history's last tokens: the
    //    Z-function of the reversed history, capped at the limit. repeat[n - 1 - k] is the
    //    length of the match that ends k tokens before the end.
    std::vector<int> z(size_t(n), 0);
    for (int k = 1, left = 0, right = 0; k < n; ++k) {
        int len = 0;
        if (k < right) len = std::min(right - k, z[size_t(k - left)]);
        while (k + len < n && back(len) == back(k + len)) ++len;
        z[size_t(k)] = len;
        if (k + len > right) left = k, right = k + len;
    }

    // 3. The token after each match would extend it: keep the longest match per token.
    std::unordered_map<int32_t, int> longest_after;
    for (int k = 1; k < n; ++k) {
        const int len = std::min(z[size_t(k)], limit);
        if (len < p.allowed_length) continue;
        const int32_t next = back(k - 1);
        auto [it, fresh] = longest_after.emplace(next, len);
        if (!fresh) it->second = std::max(it->second, len);
    }

    // 4. Penalise them, except tokens that are breakers on their own. The exponent is capped
    //    so that base^exponent stays a finite float.
    int max_exponent = 0;
    if (p.base > 1.000001f) max_exponent = static_cast<int>(88.7228391f / std::log(p.base));
    for (auto& x : c.data) {
        const auto it = longest_after.find(x.id);
        if (it == longest_after.end()) continue;
        const auto [first, last] = breakers.equal_range(x.id);
        if (std::any_of(first, last, [](const auto& b) { return b.second.empty(); })) continue;
        int exponent = it->second - p.allowed_length;
        if (max_exponent > 0 && exponent > max_exponent) exponent = max_exponent;
        // (In double, as llama.cpp's std::pow(float, int) is.)
        x.logit -= static_cast<float>(p.multiplier * std::pow(double(p.base), exponent));
    }
    c.sorted = false;
}

}  // namespace llamux::sampling
