#include "llamux/perplexity.hpp"

#include <algorithm>
#include <cmath>

#include "llamux/error.hpp"
#include "llamux/kl_divergence.hpp"
#include "llamux/sampler.hpp"

namespace llamux {

PerplexityResult perplexity(Session& session, const std::vector<int32_t>& tokens,
                            const PerplexityOptions& options,
                            const std::function<void(int32_t, double)>& on_chunk) {
    const int32_t n_ctx = options.n_ctx;
    if (n_ctx < 2) throw Error("perplexity: -c: expected a chunk size >= 2, got " + std::to_string(n_ctx));
    if (n_ctx > session.n_ctx()) {
        throw Error("perplexity: chunk size " + std::to_string(n_ctx) + " exceeds the session's context of " +
                    std::to_string(session.n_ctx()));
    }
    if (static_cast<int64_t>(tokens.size()) < 2 * int64_t{n_ctx}) {
        throw Error("perplexity: the text tokenizes to " + std::to_string(tokens.size()) +
                    " tokens; a chunk size of " + std::to_string(n_ctx) + " needs at least " +
                    std::to_string(2 * n_ctx) + " (lower -c or give a longer text)");
    }
    const auto n_available = static_cast<int32_t>(tokens.size() / size_t(n_ctx));
    const int32_t n_chunks = options.n_chunks < 0 ? n_available : std::min(options.n_chunks, n_available);
    const Tokenizer& tok = session.model().tokenizer();
    const int32_t n_vocab = tok.n_vocab();
    const int32_t first = n_ctx / 2;

    if (options.base_out) write_log_prob_header(*options.base_out, n_ctx, n_vocab, n_chunks, tokens);
    PerplexityResult r;
    double nll = 0.0, nll2 = 0.0;
    for (int32_t c = 0; c < n_chunks; ++c) {
        const auto begin = tokens.begin() + static_cast<std::ptrdiff_t>(c) * n_ctx;
        std::vector<int32_t> chunk(begin, begin + n_ctx);
        if (tok.add_bos()) chunk[0] = tok.bos();
        session.reset();
        const std::vector<float> logits = session.decode(chunk, true);
        for (int32_t j = first; j < n_ctx - 1; ++j) {
            const float* row = logits.data() + size_t(j) * size_t(n_vocab);
            const int32_t next = chunk[size_t(j) + 1];
            const double v = options.base_out ? write_log_prob_row(*options.base_out, row, n_vocab, next)
                                              : -log_softmax(row, size_t(n_vocab)).of(row[next]);
            nll += v;
            nll2 += v * v;
        }
        r.n_scored += n_ctx - 1 - first;
        r.running.push_back(std::exp(nll / double(r.n_scored)));
        if (on_chunk) on_chunk(c, r.running.back());
    }
    r.n_chunks = n_chunks;
    const double mean = nll / double(r.n_scored);
    const double var = nll2 / double(r.n_scored) - mean * mean;
    r.ppl = std::exp(mean);
    r.ppl_error = var > 0 && r.n_scored > 1 ? std::sqrt(var / double(r.n_scored - 1)) * r.ppl : 0.0;
    return r;
}

}  // namespace llamux
