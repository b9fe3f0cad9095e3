// Converting a Hugging Face Llama checkpoint directory to a GGUF file, as llama.cpp's
// convert_hf_to_gguf.py does for Llama models, without Python.
//
// The directory holds config.json (architectures LlamaForCausalLM), the weights as one
// model.safetensors or several model-*.safetensors shards (with model.safetensors.index.json),
// the SentencePiece tokenizer.model and optionally tokenizer_config.json, tokenizer.json and
// added_tokens.json. The output follows llama.cpp's Llama conventions: its tensor names, the
// row permutation of Q and K that llama.cpp's RoPE layout needs, 1-D tensors and norms kept
// F32, and its metadata keys with their types. See docs/convert.md for the differences.
//
// Inputs are mmapped and each tensor is converted while the file is written, so memory
// stays near the size of the largest tensor. Everything is validated before the output is
// created: a missing or malformed file, a missing config key, an unsupported architecture or
// dtype, a tensor missing or of the wrong shape for the config, a vocabulary larger than the
// embedding rows, a truncated safetensors file: each throws llamux::Error naming the file,
// key or tensor with the expected and the found value. No partial output is left behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/quantizer.hpp"

namespace llamux {

struct ConvertOptions {
    std::string input_dir;           // the Hugging Face checkpoint directory
    std::string output_path;         // the GGUF file written (replaced if it exists)
    FileType type = FileType::F16;   // F32, F16 or BF16 (llama.cpp's --outtype); others: Error
    std::string name;                // general.name; empty: the input directory's name
};

// One tensor as it is written (passed to the progress callback).
struct ConvertTensorEvent {
    size_t index = 0;              // 0-based, in output order
    size_t count = 0;              // tensors in the output
    std::string name;              // GGUF name: "blk.0.attn_q.weight"
    std::string source;            // Hugging Face name: "model.layers.0.self_attn.q_proj.weight"
    std::vector<int64_t> ne;       // GGUF order (ne[0] is the row length)
    DType from = DType::F32;       // the safetensors dtype
    DType to = DType::F32;         // the stored type
};

struct ConvertSummary {
    size_t n_tensors = 0;
    uint64_t n_params = 0;         // elements over all tensors written
    int64_t n_vocab = 0;           // tokens in the vocabulary (config vocab_size)
    uint64_t bytes_in = 0;         // tensor bytes read from the safetensors files
    uint64_t bytes_out = 0;        // the output file's size
};

// Converts options.input_dir to options.output_path. `on_tensor` (optional) is called once
// per tensor, in output order, just before its data is written, on the calling thread.
// Throws llamux::Error (see above).
ConvertSummary convert_hf_llama(const ConvertOptions& options,
                                const std::function<void(const ConvertTensorEvent&)>& on_tensor = {});

}  // namespace llamux
