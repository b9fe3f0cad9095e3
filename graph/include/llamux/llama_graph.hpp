// The Llama 2 graph builder: hyperparameters in, a static Graph out.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>

#include "llamux/ir.hpp"

namespace llamux {

struct LlamaHParams {
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;      // model width
    int32_t n_layer = 0;     // transformer blocks
    int32_t n_ff = 0;        // feed-forward width
    int32_t n_head = 0;
    int32_t n_head_kv = 0;   // < n_head: grouped-query attention
    int32_t n_rot = 0;       // rotary dimensions per head (usually head_dim)
    float rms_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;

    int32_t head_dim() const { return n_embd / n_head; }
    int32_t n_embd_kv() const { return head_dim() * n_head_kv; }
    // Throws Error naming the first inconsistent value (zero sizes, heads not dividing, ...).
    void validate(const std::string& source) const;
};

// What the builder needs to know of each weight the file holds.
struct WeightSpec {
    DType dtype;
    std::array<int64_t, LMX_MAX_DIMS> ne;
};
// Returns the spec of a named weight, or nullopt when the file has no such tensor.
using WeightLookup = std::function<std::optional<WeightSpec>(const std::string& name)>;

struct LlamaGraphOptions {
    int32_t n_tokens = 1;       // batch size this graph evaluates at once
    int32_t n_ctx = 512;        // KV cache rows
    bool all_logits = false;    // logits for every position, else only the last one
    // Instead of logits: every position's hidden state after the output norm (what
    // llama.cpp returns as embeddings); the head is left out.
    bool embeddings = false;
    DType kv_type_k = DType::F16; // KV cache storage: keys
    DType kv_type_v = DType::F16; // and values
};

struct LlamaGraph {
    Graph graph;
    TensorId tokens = kNoTensor;     // I32[n_tokens], input
    TensorId positions = kNoTensor;  // I32[n_tokens], input
    TensorId logits = kNoTensor;     // F32[n_vocab, all_logits ? n_tokens : 1], output
    TensorId embeddings = kNoTensor; // F32[n_embd, n_tokens], output of embeddings graphs
    int32_t n_layer = 0;             // node layers run -1 (embedding) .. n_layer (head)
};

// The types a KV cache may have, keys and values each: F32, F16, BF16 and the 32-value block
// types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (llama.cpp's -ctk/-ctv choices other than IQ4_NL, a type
// llamux lacks). The reference kv_store and attention accept exactly these; a block type
// needs heads of whole blocks.
inline constexpr std::initializer_list<DType> kKvCacheTypes = {
    DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1};

// The name of block `layer`'s key or value cache tensor (LMX_ROLE_KV_CACHE,
// [n_embd_kv, n_ctx], one row per position; keys are stored after RoPE).
std::string kv_cache_name(bool keys, int32_t layer);

// Builds the graph. Every weight is checked against the shape the hyperparameters imply;
// a missing or mis-shaped one is an Error such as
// "tensor blk.3.attn_q.weight: expected 4096x4096, file has 4096x4095".
// `output.weight` absent means the head is tied to `token_embd.weight`.
LlamaGraph build_llama_graph(const LlamaHParams& hp, const LlamaGraphOptions& options,
                             const WeightLookup& weights);

}  // namespace llamux
