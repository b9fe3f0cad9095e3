#include "engine.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "llamux/embedding.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar_sampling.hpp"
#include "llamux/sampler.hpp"

namespace llamux::python {

Engine::Engine(const std::string& model_path, const LoadOptions& load, const SessionOptions& options)
    : model_(Model::load(model_path, load)), session_(std::make_unique<Session>(model_, options)) {}

void Engine::eval(const std::vector<int32_t>& tokens, bool every_row) {
    rows_.clear();
    if (!every_row) {
        logits_ = session_->decode(tokens, false);
        return;
    }
    rows_ = session_->decode(tokens, true);
    logits_.assign(rows_.end() - tokenizer().n_vocab(), rows_.end());
}

std::string Engine::save_state() {
    std::ostringstream out;
    session_->save_state(out);
    return std::move(out).str();
}

void Engine::load_state(const std::string& state, const std::vector<float>& logits) {
    rows_.clear();
    logits_.clear();
    std::istringstream in(state);
    session_->load_state(in, "state");
    if (!logits.empty() && logits.size() != static_cast<size_t>(tokenizer().n_vocab())) {
        session_->reset();
        throw Error("state: expected " + std::to_string(tokenizer().n_vocab()) + " logits, got " +
                    std::to_string(logits.size()));
    }
    logits_ = logits;
}

std::shared_ptr<const GrammarVocab> Engine::grammar_vocab(const std::vector<int32_t>& extra_ends) {
    auto& vocab = grammar_vocabs_[extra_ends];
    if (!vocab) vocab = llamux::grammar_vocab(tokenizer(), extra_ends);
    return vocab;
}

void Engine::prefill(const std::vector<int32_t>& prompt) {
    rows_.clear();
    logits_ = session_->prefill(prompt);
}

void Engine::rewind(int32_t n) {
    session_->rewind(n);
    logits_.clear();
    rows_.clear();
}

std::vector<float> Engine::embed(const std::vector<int32_t>& tokens, const std::string& pooling,
                                 int32_t normalize) {
    logits_.clear();
    rows_.clear();
    return embed_sequence(*session_, tokens, parse_pooling(pooling, "pooling"), normalize);
}

Engine::Logprobs Engine::logprobs(int64_t row, int32_t token, int32_t n_top) const {
    const int32_t n_vocab = tokenizer().n_vocab();
    const auto n_rows = static_cast<int64_t>(rows_.size() / static_cast<size_t>(n_vocab));
    if (row == -1 ? logits_.empty() : (row < 0 || row >= n_rows)) {
        throw Error("logprobs: no logits row " + std::to_string(row) + " (the last evaluation kept " +
                    std::to_string(n_rows) + " rows; -1 is the last token's)");
    }
    if (token < 0 || token >= n_vocab || n_top < 0) {
        throw Error("logprobs: token " + std::to_string(token) + " or count " + std::to_string(n_top) +
                    " out of range (vocabulary of " + std::to_string(n_vocab) + ")");
    }
    const float* x = row == -1 ? logits_.data() : rows_.data() + row * n_vocab;
    const LogSoftmax norm = log_softmax(x, size_t(n_vocab));
    auto logprob = [&](int32_t i) { return static_cast<float>(norm.of(x[i])); };

    std::vector<int32_t> ids(static_cast<size_t>(n_vocab));
    std::iota(ids.begin(), ids.end(), 0);
    const auto n = static_cast<std::ptrdiff_t>(std::min(n_top, n_vocab));
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                      [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
    Logprobs out{logprob(token), {}};
    for (std::ptrdiff_t i = 0; i < n; ++i) out.top.emplace_back(ids[size_t(i)], logprob(ids[size_t(i)]));
    return out;
}

std::vector<std::pair<std::string, std::string>> Engine::metadata() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [key, value] : model_->file().metadata()) {
        if (value.as_array()) continue;
        const std::string* text = value.as_string();
        out.emplace_back(key, text ? *text : value.to_display());
    }
    return out;
}

}  // namespace llamux::python
