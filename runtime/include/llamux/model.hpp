// A Llama 2 model: the mapped GGUF file, its hyperparameters and its tokenizer.
// Immutable once loaded; shared by the sessions that run it.
#pragma once

#include <memory>
#include <string>

#include "llamux/gguf.hpp"
#include "llamux/llama_graph.hpp"
#include "llamux/load_options.hpp"
#include "llamux/tokenizer.hpp"

namespace llamux {

class Model {
public:
    // Opens and validates the file; throws Error naming the file and the key or tensor for
    // a non-Llama architecture, missing or inconsistent hyperparameters or vocabulary.
    // Tensor shapes are checked when the first graph is built (see build_llama_graph).
    // `options`: mmap the file or read it into memory, and whether to mlock it
    // (load_options.hpp; a refused mlock only warns).
    static std::shared_ptr<const Model> load(const std::string& path, const LoadOptions& options = {});

    const GgufFile& file() const { return file_; }
    const std::string& path() const { return file_.path(); }
    const LlamaHParams& hparams() const { return hparams_; }
    const Tokenizer& tokenizer() const { return tokenizer_; }
    WeightLookup weight_lookup() const;
    const void* weight_data(const std::string& name) const;  // nullptr if absent

private:
    Model(GgufFile file, LlamaHParams hparams, Tokenizer tokenizer)
        : file_(std::move(file)), hparams_(hparams), tokenizer_(std::move(tokenizer)) {}
    GgufFile file_;
    LlamaHParams hparams_;
    Tokenizer tokenizer_;
};

// Reads the llama.* hyperparameters of a GGUF file (defaults as llama.cpp applies them).
LlamaHParams read_llama_hparams(const GgufFile& file);

}  // namespace llamux
