#include "llamux/generator.hpp"

#include <algorithm>
#include <chrono>

#include "llamux/error.hpp"
#include "llamux/grammar_sampling.hpp"
#include "llamux/model.hpp"

namespace llamux {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

// Cache positions a context shift keeps: the n_before ones before the prompt, the BOS and
// n_keep more prompt tokens (all of the prompt when n_keep < 0 or exceeds it), as llama.cpp's
// main.
int32_t kept_positions(const Session& session, int32_t n_before, const std::vector<int32_t>& prompt,
                       int32_t n_keep) {
    const auto n_prompt = static_cast<int32_t>(prompt.size());
    const bool bos = prompt.front() == session.model().tokenizer().bos();
    const int32_t from_prompt =
        n_keep < 0 || n_keep > n_prompt ? n_prompt : std::min(n_prompt, n_keep + (bos ? 1 : 0));
    return n_before + from_prompt;
}

}  // namespace

bool shift_context_for(Session& session, int32_t kept_positions, int64_t n_next) {
    if (session.n_past() + n_next < session.n_ctx()) return false;
    const int32_t n_discard = (session.n_past() - kept_positions) / 2;
    if (n_discard <= 0) return false;
    session.shift(kept_positions, n_discard);
    return true;
}

GenerateStats generate(Session& session, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options,
                       const std::function<bool(int32_t token)>& on_token) {
    if (prompt.empty()) throw Error("prompt: no tokens to evaluate (empty prompt and no BOS)");
    if (options.n_predict < -1) {
        throw Error("-n: expected -1 or a count >= 0, got " + std::to_string(options.n_predict));
    }
    const int32_t n_keep = options.kept_positions >= 0
                               ? options.kept_positions
                               : kept_positions(session, options.reuse_cache ? 0 : session.n_past(), prompt,
                                                options.n_keep);
    GenerateStats stats;
    if (!options.reuse_cache && options.context_shift &&
        shift_context_for(session, n_keep, static_cast<int64_t>(prompt.size()))) {
        ++stats.n_shifts;
    }
    const int64_t n_before = options.reuse_cache ? 0 : session.n_past();
    if (n_before + static_cast<int64_t>(prompt.size()) > session.n_ctx()) {
        throw Error("prompt of " + std::to_string(prompt.size()) +
                    " tokens does not fit the context of " + std::to_string(session.n_ctx()) +
                    " (raise -c or shorten the prompt)");
    }
    stats.n_prompt = static_cast<int32_t>(prompt.size());
    stats.kept_positions = n_keep;
    Sampler sampler(options.sampling, &session.model().tokenizer());
    if (options.grammar) {
        sampler.set_constraint(grammar_constraint(options.grammar, grammar_vocab(session.model().tokenizer())));
    }
    if (options.n_unseen < 0 || options.n_unseen > static_cast<int32_t>(prompt.size())) {
        throw Error("n_unseen: expected 0.." + std::to_string(prompt.size()) + ", got " +
                    std::to_string(options.n_unseen));
    }
    std::vector<int32_t> history(prompt.begin() + options.n_unseen, prompt.end());
    const int32_t eos = session.model().tokenizer().eos();

    auto start = std::chrono::steady_clock::now();
    std::vector<float> logits;
    if (options.reuse_cache) {
        // What prefill keeps: the prefix shared with the cache, short of the last token.
        const std::vector<int32_t>& held = session.tokens();
        const auto limit = static_cast<std::ptrdiff_t>(std::min(held.size(), prompt.size() - 1));
        stats.n_cached = static_cast<int32_t>(
            std::mismatch(held.begin(), held.begin() + limit, prompt.begin()).first - held.begin());
        logits = session.prefill(prompt);
    } else {
        logits = session.decode(prompt, false);
    }
    stats.prompt_ms = ms_since(start);
    if (options.after_prompt) options.after_prompt();

    start = std::chrono::steady_clock::now();
    while (options.n_predict < 0 || stats.n_generated < options.n_predict) {
        const int32_t token = sampler.sample(logits, history);
        if (token == eos) {
            stats.hit_eos = true;
            break;
        }
        ++stats.n_generated;
        history.push_back(token);
        if (!on_token(token)) break;
        if (options.n_predict >= 0 && stats.n_generated >= options.n_predict) break;
        if (options.context_shift && session.n_past() + 1 >= session.n_ctx()) {
            // As llama.cpp's main: shift when this token would take the last position.
            if (!shift_context_for(session, n_keep, 1)) {
                stats.context_full = true;  // the kept tokens fill the context
                break;
            }
            ++stats.n_shifts;
        }
        if (session.n_past() >= session.n_ctx()) {
            stats.context_full = true;
            break;
        }
        logits = session.decode({token}, false);
    }
    stats.generate_ms = ms_since(start);
    return stats;
}

}  // namespace llamux
