#include "llamux/generator.hpp"

#include <chrono>

#include "llamux/error.hpp"

namespace llamux {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

}  // namespace

GenerateStats generate(Session& session, const std::vector<int32_t>& prompt,
                       const GenerateOptions& options,
                       const std::function<bool(int32_t token)>& on_token) {
    if (prompt.empty()) throw Error("prompt: no tokens to evaluate (empty prompt and no BOS)");
    if (options.n_predict < -1) {
        throw Error("-n: expected -1 or a count >= 0, got " + std::to_string(options.n_predict));
    }
    if (session.n_past() + static_cast<int64_t>(prompt.size()) > session.n_ctx()) {
        throw Error("prompt of " + std::to_string(prompt.size()) +
                    " tokens does not fit the context of " + std::to_string(session.n_ctx()) +
                    " (raise -c or shorten the prompt)");
    }
    GenerateStats stats;
    stats.n_prompt = static_cast<int32_t>(prompt.size());
    Sampler sampler(options.sampling);
    std::vector<int32_t> history = prompt;
    const int32_t eos = session.model().tokenizer().eos();

    auto start = std::chrono::steady_clock::now();
    std::vector<float> logits = session.decode(prompt, false);
    stats.prompt_ms = ms_since(start);

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
