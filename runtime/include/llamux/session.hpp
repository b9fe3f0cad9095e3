// A session: one model, the backends chosen for it, its prepared weights, its KV cache,
// and the compiled graphs for each batch shape. What tools and bindings call.
#pragma once

#include <istream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "llamux/backend_set.hpp"
#include "llamux/execution_plan.hpp"
#include "llamux/model.hpp"
#include "llamux/placement.hpp"
#include "llamux/plugin.hpp"
#include "llamux/resident_tensors.hpp"

namespace llamux {

struct SessionOptions {
    int32_t n_ctx = 0;        // KV cache rows; 0: the model's training context, at most 4096
    int32_t n_batch = 512;    // prompt tokens evaluated per graph execution
    int32_t n_threads = 0;    // for CPU-side backends; 0: one per physical core
    int32_t n_threads_batch = 0;  // the same for prompts (batches of more than one token); 0: n_threads
    // KV cache types of keys and values, each one of F16, BF16, F32, Q8_0, Q4_0, Q4_1, Q5_0
    // or Q5_1 (llama.cpp's -ctk/-ctv); the block types need heads of whole 32-value blocks.
    // Session throws Error for any other type or head size.
    DType kv_type_k = DType::F16;
    DType kv_type_v = DType::F16;
    // RoPE overrides, as llama.cpp's --rope-freq-base / --rope-freq-scale; 0: the model's
    // (llama.rope.freq_base, 1 / llama.rope.scale_linear).
    float rope_freq_base = 0.0f;
    float rope_freq_scale = 0.0f;
    std::string host_backend = "cpu";
    PlacementSpec placement;  // default_backend is what --backend names
    PluginSearch plugins;
};

class Session {
public:
    // Loads plugins, creates the backends the placement names and checks the model's
    // weights against its hyperparameters (by building the single-token graph).
    // Throws Error with a clear message on any problem.
    Session(std::shared_ptr<const Model> model, const SessionOptions& options);
    ~Session();

    // Evaluates `tokens` at positions n_past() .. and advances n_past(). Returns the logits
    // of the last token ([n_vocab]), or of every token ([n_tokens][n_vocab] row-major) when
    // all_logits. Throws Error when the tokens do not fit in the context.
    std::vector<float> decode(const std::vector<int32_t>& tokens, bool all_logits = false);

    // Evaluates `tokens` as decode() does and returns every position's hidden state after
    // the output norm ([n_tokens][n_embd] row-major), which is what llama.cpp returns as
    // embeddings (pool and normalize them with embedding.hpp). Throws as decode() does.
    std::vector<float> embed(const std::vector<int32_t>& tokens);

    // Makes the cache hold `prompt`: keeps the longest prefix of it that the cache already
    // holds and evaluates the rest (at least its last token, whose logits are returned), so
    // that the next turn of a chat or a prompt sharing a fixed start evaluates only what is
    // new. Throws Error for an empty prompt or one longer than the context.
    std::vector<float> prefill(const std::vector<int32_t>& prompt);

    // The tokens the cache holds, position by position (n_past() of them).
    const std::vector<int32_t>& tokens() const { return tokens_; }
    int32_t n_past() const { return static_cast<int32_t>(tokens_.size()); }
    int32_t n_ctx() const { return n_ctx_; }
    void reset() { tokens_.clear(); }  // forget the cache contents (they are overwritten)
    // Keeps the first n positions of the cache and forgets the rest. Throws Error unless
    // 0 <= n <= n_past().
    void rewind(int32_t n);
    // llama.cpp's context shift: forgets positions [n_keep, n_keep + n_discard) and moves the
    // later ones down by n_discard, turning their cached keys to the new positions (on the
    // host, through each backend's tensor reads and writes), so generation goes on with
    // n_discard more free positions without evaluating anything again. The moved keys and
    // values still carry what the dropped tokens contributed to them in the blocks after
    // the first, as llama.cpp's do. Throws Error unless 0 <= n_keep, 0 < n_discard and
    // n_keep + n_discard <= n_past().
    void shift(int32_t n_keep, int32_t n_discard);

    // Writes what the cache holds (its tokens and their key and value rows) to `out`, for
    // a later load_state into a session over the same model file and KV cache type (on any
    // backends and placement). Throws Error when writing fails.
    void save_state(std::ostream& out);
    // Replaces the cache with a saved state. Throws Error naming `source` for a malformed
    // or truncated state, one made for another model file, KV cache type or a longer
    // context; the cache is then empty.
    void load_state(std::istream& in, const std::string& source);

    const Model& model() const { return *model_; }
    const Placement& placement() const { return placement_; }
    const PluginRegistry& plugins() const { return registry_; }
    // The plan of a batch shape (built on first use); for tests and -v.
    ExecutionPlan& plan(int32_t n_tokens, bool all_logits);

private:
    struct Compiled;
    enum class Output { LastLogits, AllLogits, Embeddings };
    Compiled& compiled(int32_t n_tokens, Output output);
    std::vector<float> evaluate(const std::vector<int32_t>& tokens, Output output);

    std::shared_ptr<const Model> model_;
    LlamaHParams hparams_;  // the model's, with the options' RoPE overrides
    SessionOptions options_;
    int32_t n_ctx_ = 0;
    std::vector<int32_t> tokens_;  // what the cache holds; its size is n_past()
    PluginRegistry registry_;
    Placement placement_;
    std::unique_ptr<BackendSet> backends_;
    std::unique_ptr<WeightStore> weights_;
    std::unique_ptr<KvCache> kv_;
    std::map<std::pair<int32_t, Output>, std::unique_ptr<Compiled>> graphs_;
};

}  // namespace llamux
