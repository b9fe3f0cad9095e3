// The state behind one Python `Llama` object: a model, one session over it, and the logits
// of the last evaluated token. The binding (module.cpp) is a thin layer over this class.
//
// Not thread-safe: one Engine per thread, as with llama-cpp-python's Llama. Errors are
// llamux::Error with the message the command line would print.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llamux/grammar.hpp"
#include "llamux/model.hpp"
#include "llamux/sampler.hpp"
#include "llamux/session.hpp"

namespace llamux::python {

class Engine {
public:
    // Loads the model as `load` asks (mmap or read, mlock) and opens a session (plugins,
    // placement, weights, KV cache).
    Engine(const std::string& model_path, const LoadOptions& load, const SessionOptions& options);

    const Model& model() const { return *model_; }
    const Tokenizer& tokenizer() const { return model_->tokenizer(); }
    const Session& session() const { return *session_; }

    // Evaluates tokens at positions n_past() .. and keeps the last token's logits; with
    // every_row, every token's logits (until the next eval), for log-probabilities.
    void eval(const std::vector<int32_t>& tokens, bool every_row = false);
    // Session::prefill: the cache ends up holding `prompt`, reusing the prefix it holds.
    void prefill(const std::vector<int32_t>& prompt);
    // The logits of the last token evaluated; empty before the first eval and after rewind.
    const std::vector<float>& logits() const { return logits_; }

    // From one row of logits (row i of the last eval with every_row; -1: the last token's):
    // log p(token) and the n_top most likely (id, log p), most likely first, ties by id.
    // Log-softmax of the raw logits, as llama-cpp-python reports them (no sampling penalties).
    // Throws Error for a row or token out of range.
    struct Logprobs {
        float logprob = 0.0f;
        std::vector<std::pair<int32_t, float>> top;
    };
    Logprobs logprobs(int64_t row, int32_t token, int32_t n_top) const;
    // Keeps the first n cache positions (Session::rewind); the logits are forgotten.
    void rewind(int32_t n);

    // embed_sequence (llamux/embedding.hpp): the tokens' embeddings from an empty cache,
    // pooled ("none", "mean", "cls", "last") and normalized (-1 none, 2 euclidean, ...),
    // row-major. The cache and the logits are forgotten.
    std::vector<float> embed(const std::vector<int32_t>& tokens, const std::string& pooling,
                             int32_t normalize);

    // The session's cache as bytes (Session::save_state), and back with the logits that went
    // with it; load_state throws Error as Session::load_state does (the cache and logits are
    // then empty).
    std::string save_state();
    void load_state(const std::string& state, const std::vector<float>& logits);

    // The vocabulary as grammars see it (llamux/grammar_sampling.hpp), with these extra end
    // tokens (a chat format's end of turn); built on first use and kept per end-token set.
    std::shared_ptr<const GrammarVocab> grammar_vocab(const std::vector<int32_t>& extra_ends);

    // Scalar metadata values as text (arrays such as the vocabulary are left out), in file
    // order, as llama-cpp-python's Llama.metadata gives them.
    std::vector<std::pair<std::string, std::string>> metadata() const;

private:
    std::shared_ptr<const Model> model_;
    std::unique_ptr<Session> session_;
    std::vector<float> logits_;
    std::vector<float> rows_;  // every row of the last eval with every_row, else empty
    std::map<std::vector<int32_t>, std::shared_ptr<const GrammarVocab>> grammar_vocabs_;
};

}  // namespace llamux::python
