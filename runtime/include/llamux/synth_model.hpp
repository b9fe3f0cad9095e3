// Random-weight Llama 2 models of real shapes, written straight into a GGUF file of any
// file type. Speed does not depend on the weights' values, so benchmarks need no download.
//
// Weights are generated and quantized row by row while the file is written (inside the
// writer's fill callbacks): memory use is one tensor of the output type plus a float row
// per thread, so a 7B or 13B file is written with a few GB of RAM. Values are a function of
// (seed, tensor name, row) only: the same seed gives the same file whatever the thread
// count.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llamux/quantizer.hpp"

namespace llamux {

struct SynthShape {
    std::string name;        // "tiny", "1b", "7b", "13b"
    int32_t n_embd = 0;      // model width
    int32_t n_layer = 0;     // blocks
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t n_ff = 0;        // feed-forward width
    int32_t n_vocab = 0;     // the vocabulary file's token count replaces it
    int32_t n_ctx = 0;       // llama.context_length written
};

// tiny: the synth-tiny fixture's shape (256, 4 blocks, 8/4 heads, ffn 768, vocab 512);
// 1b: TinyLlama-1.1B (2048, 22, 32/4, 5632); 7b: Llama-2-7B (4096, 32, 32/32, 11008);
// 13b: Llama-2-13B (5120, 40, 40/40, 13824); vocab 32000 for the last three.
std::optional<SynthShape> synth_shape(std::string_view name);
const std::vector<std::string>& synth_shape_names();

// One tensor of the synthetic model, as it is written.
struct SynthTensorEvent {
    size_t index = 0;
    size_t count = 0;
    std::string name;
    std::vector<int64_t> ne;
    DType type = DType::F32;
    uint64_t bytes = 0;
};

struct SynthOptions {
    SynthShape shape;
    FileType type = FileType::F32;
    uint64_t seed = 1234;
    std::string vocab_from;      // GGUF whose tokenizer.* keys are copied (required)
    int n_threads = 0;           // 0: hardware threads
    float weight_std = 0.02f;    // matrices: roughly normal(0, weight_std)
    float norm_spread = 0.05f;   // norm weights: roughly normal(1, norm_spread)
    std::function<void(const SynthTensorEvent&)> on_tensor;  // after each tensor, may be empty
};

struct SynthSummary {
    size_t n_tensors = 0;
    uint64_t n_params = 0;
    uint64_t tensor_bytes = 0;
    int32_t n_vocab = 0;
};

// Writes the model to `path`. Per-tensor types are choose_tensor_type's for options.type.
// Throws Error naming the vocabulary file when it has no tokenizer.ggml.tokens, and the
// output path when it cannot be written (no partial file is left).
SynthSummary write_synth_model(const std::string& path, const SynthOptions& options);

}  // namespace llamux
