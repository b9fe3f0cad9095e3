// Quantizing GGUF files the way llama.cpp's quantize tool does: the same file types
// ("mixes"), the same per-tensor type choices for Llama models, the same reference
// quantizers (bit-exact, see quant_ref.hpp), the same tensor order and the same metadata
// edits. A file written from the same input therefore matches llama.cpp's byte for byte.
//
// The type choice (choose_tensor_type) is shared with the synthetic-model writer
// (synth_model.hpp), so random-weight benchmark files carry the mixes a real user has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/gguf.hpp"

namespace llamux {

// llama.cpp's file types (enum llama_ftype); the value is what general.file_type holds.
enum class FileType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 7,
    Q5_0 = 8,
    Q5_1 = 9,
    Q2_K = 10,
    Q3_K_S = 11,
    Q3_K_M = 12,
    Q3_K_L = 13,
    Q4_K_S = 14,
    Q4_K_M = 15,
    Q5_K_S = 16,
    Q5_K_M = 17,
    Q6_K = 18,
    BF16 = 32,
};

// Every file type this build writes, in llama.cpp's listing order.
const std::vector<FileType>& all_file_types();
// "Q4_K_M" (any case) -> FileType; nullopt for a name not in all_file_types().
std::optional<FileType> file_type_from_name(std::string_view name);
// The short name the quantize command takes: "Q4_K_M", "F16".
std::string_view file_type_name(FileType t);
// The long form llama.cpp prints for general.file_type values (llama_model_ftype_name):
// "Q4_K - Medium", "all F32"; "unknown (N)" for a value it does not know.
std::string file_type_description(uint32_t file_type);
// The main tensor type of a file type (llama.cpp's default_type): Q4_K_M -> Q4_K.
DType file_type_base(FileType t);

// What the per-tensor type choice needs to know of the model.
struct MixContext {
    int32_t n_layer = 0;    // transformer blocks (llama.cpp's n_ffn_down)
    int32_t n_head = 0;     // attention heads
    int32_t n_head_kv = 0;  // key/value heads; n_head / n_head_kv is the GQA factor
    int32_t n_attn_v = 0;   // attn_v tensors in the model (llama.cpp's n_attention_wv)
    bool has_output = true; // output.weight exists (else token_embd is treated as the head)
};

// The choice for one tensor.
struct TensorTypeChoice {
    DType type = DType::F32;    // what the tensor is stored as in the output
    bool convert = false;       // false: copied unchanged (1-D, norm, or already `type`)
    bool fallback = false;      // the mix's type did not fit the row length (see `wanted`)
    DType wanted = DType::F32;  // the mix's type before any fallback
};

// llama.cpp's per-tensor choice (llama_tensor_get_type and the checks around it) for a
// Llama-architecture model:
//  - only tensors named *weight with >= 2 dims are converted; norms and 1-D tensors keep
//    their type;
//  - output.weight (and token_embd.weight when there is no output.weight) becomes Q6_K
//    unless the main type is Q8_0 or the rows are not a multiple of 256 (then Q8_0);
//  - the _M/_L/_S mixes and Q2_K raise attn_v, attn_output and ffn_down of some layers,
//    with llama.cpp's use_more_bits layer rule;
//  - a row length the chosen block does not divide falls back: Q4_K -> Q5_0, Q5_K -> Q5_1,
//    Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0 (current llama.cpp; older releases picked IQ4_NL,
//    which llamux does not have), and to F16 when even that does not fit (llama.cpp's last
//    resort; for 32-element types llama.cpp refuses instead, llamux goes straight to F16).
// `name` is the tensor name, `n_dims` and `ne0` its rank and row length, `current` its type
// in the input.
TensorTypeChoice choose_tensor_type(FileType ft, const MixContext& ctx, const std::string& name,
                                    uint32_t n_dims, int64_t ne0, DType current);

// llama.cpp's llama_model_loader tensor order, which its quantize tool writes: tensors
// outside the blocks first, then blk.0, blk.1, ...; by name within each group.
bool tensor_order_less(const std::string& a, const std::string& b);

// Converts n_rows rows of row_len elements stored as src_type at src to dst_type at dst
// (dequantizing to F32 and quantizing with the reference routines), with rows spread over
// n_threads threads (0: hardware threads). Both types need reference routines (F32, F16,
// BF16 or a quantized type) and must divide row_len. Throws Error otherwise.
void convert_rows(DType src_type, const void* src, DType dst_type, void* dst, int64_t n_rows,
                  int64_t row_len, int n_threads);

// Writes n_rows rows of dst_type at dst from F32 rows that `make_row(row, out)` fills
// (out has row_len floats). Rows are spread over n_threads threads (0: hardware threads);
// make_row is called concurrently from several threads, once per row, in no fixed order.
void quantize_generated_rows(DType dst_type, void* dst, int64_t n_rows, int64_t row_len,
                             int n_threads,
                             const std::function<void(int64_t row, float* out)>& make_row);

// One tensor written by quantize_file, reported as it is written.
struct QuantizeTensorEvent {
    size_t index = 0;  // 0-based position in the output
    size_t count = 0;  // tensors in the output
    std::string name;
    std::vector<int64_t> ne;
    DType from = DType::F32;
    DType to = DType::F32;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    bool fallback = false;
    DType wanted = DType::F32;  // the mix's type when fallback
};

struct QuantizeOptions {
    FileType type = FileType::Q8_0;
    int n_threads = 0;  // 0: hardware threads
    // Called after each tensor is converted (from the writing thread), may be empty.
    std::function<void(const QuantizeTensorEvent&)> on_tensor;
};

struct QuantizeSummary {
    size_t n_tensors = 0;
    size_t n_converted = 0;
    size_t n_fallback = 0;
    uint64_t bytes_in = 0;   // tensor data of the input
    uint64_t bytes_out = 0;  // tensor data of the output
};

// The mix context of a GGUF file's hyperparameters and tensors (general.architecture's
// block_count and head counts; tensor names for the rest).
MixContext mix_context_of(const GgufFile& file);

// Reads the GGUF file `in`, writes `out` in file type `options.type`: metadata copied with
// general.quantization_version (2) and general.file_type moved to the end with their new
// values, as llama.cpp does; tensors in tensor_order_less order, each of the type
// choose_tensor_type picks. Input tensors already quantized are dequantized first.
// Throws Error naming the file for an unreadable input, an unwritable output (no partial
// file is left), the same path for both, or a tensor type without reference routines.
QuantizeSummary quantize_file(const std::string& in, const std::string& out,
                              const QuantizeOptions& options);

}  // namespace llamux
