// Internals of the Hugging Face converter (hf_convert.cpp, hf_convert_vocab.cpp): the
// parsed config.json and the vocabulary with its special tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llamux/gguf_writer.hpp"

namespace llamux::hf {

// A JSON file of the checkpoint; Error naming the path when it is missing or malformed.
nlohmann::json read_json_file(const std::filesystem::path& path);

// config.json, with llama.cpp's defaults and the keys it requires.
struct Config {
    std::string architecture;                // architectures[0]
    int64_t n_embd = 0;                      // hidden_size
    int64_t n_ff = 0;                        // intermediate_size
    int64_t n_layer = 0;                     // num_hidden_layers
    int64_t n_head = 0;                      // num_attention_heads
    std::optional<int64_t> n_head_kv_key;    // num_key_value_heads as written (may be absent)
    int64_t n_head_kv = 0;                   // num_key_value_heads, default n_head
    int64_t n_vocab = 0;                     // vocab_size
    std::optional<int64_t> n_ctx;            // max_position_embeddings
    double rms_eps = 0.0;                    // rms_norm_eps
    std::optional<double> rope_theta;        // written only when present, as llama.cpp does
    std::optional<double> rope_linear_scale; // rope_scaling {type: linear, factor}
    std::optional<int64_t> head_dim;         // head_dim when present (must be n_embd/n_head)
    bool tie_embeddings = false;             // tie_word_embeddings
    nlohmann::json json;                     // the whole file (special token ids)

    int64_t n_rot() const { return head_dim ? *head_dim : n_embd / n_head; }
};
Config read_config(const std::filesystem::path& dir);

// tokenizer.ggml.* and tokenizer.chat_template* as llama.cpp's _set_vocab_sentencepiece and
// SpecialVocab write them, in their order.
struct Vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;              // GGUF token types
    std::vector<std::pair<std::string, uint32_t>> special_ids;  // key, id
    std::vector<std::pair<std::string, bool>> add_special;      // key, value
    std::vector<std::pair<std::string, std::string>> chat_templates;  // key, template
    std::vector<std::string> chat_template_names;                // tokenizer.chat_templates
    std::optional<bool> add_space_prefix;    // tokenizer_config add_prefix_space
};
// Reads tokenizer.model (required) and the optional JSON files. `n_vocab` is the config's
// vocab_size: a tokenizer with more pieces is an Error, one with fewer is padded with
// [PADn] tokens as llama.cpp does.
Vocab read_vocab(const std::filesystem::path& dir, const Config& config);
void write_vocab(GgufWriter& w, const Vocab& v);

}  // namespace llamux::hf
