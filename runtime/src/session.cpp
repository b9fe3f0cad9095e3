#include "llamux/session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "llamux/error.hpp"
#include "llamux/llama_graph.hpp"
#include "llamux/log.hpp"
#include "kv_shift.hpp"
#include "node_backends.hpp"
#include "session_state.hpp"

namespace llamux {
namespace {

// Bytes of one block's key or value cache of type t.
uint64_t kv_cache_bytes(const LlamaHParams& hp, int32_t n_ctx, DType t) {
    return uint64_t(n_ctx) * uint64_t(hp.n_embd_kv()) / uint64_t(info(t).block_size) * info(t).type_size;
}

std::string mib(uint64_t bytes) { return std::to_string((bytes + (uint64_t{1} << 19)) >> 20) + " MiB"; }

// Whether backend `gpu` keeps the KV cache of the blocks placed on it: it may decline a
// cache type (the CUDA plugin declines quantized ones), and then those layers' KV stores and
// attention run on the host, with the cache (node_backends.hpp).
bool gpu_keeps_kv_cache(const LlamaGraph& graph, const Placement& placement, const BackendSet& backends,
                        const std::string& gpu) {
    const NodeBackends chosen = choose_node_backends(graph.graph, placement, backends);
    const auto& nodes = graph.graph.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].op == LMX_OP_KV_STORE && placement.backend_of(nodes[i].layer) == gpu) {
            return chosen.of_node[i]->name() == gpu;
        }
    }
    return false;
}

// Appended to an out-of-memory error while preparing -ngl blocks on the GPU: what one block
// needs and how many would fit in the memory the plugin's probe saw free (weights counted
// as the file stores them; a backend that widens some types needs more). A KV cache the GPU
// backend declines is said to stay on the host and not counted.
std::string gpu_fit_hint(const Model& model, const Plugin* gpu, int32_t n_ctx, DType type_k, DType type_v,
                         bool kv_on_gpu) {
    constexpr uint64_t kReserve = uint64_t{256} << 20;  // scratch, activations, cuBLAS workspace
    const LlamaHParams& hp = model.hparams();
    uint64_t weights = 0;
    for (const auto& t : model.file().tensors()) {
        if (t.name.rfind("blk.0.", 0) == 0) weights += t.n_bytes;
    }
    const uint64_t kv = kv_cache_bytes(hp, n_ctx, type_k) + kv_cache_bytes(hp, n_ctx, type_v);
    const uint64_t per_block = weights + (kv_on_gpu ? kv : 0);
    std::string hint = "each block needs about " + mib(per_block) + " on the GPU (" + mib(weights) + " of weights, ";
    if (kv_on_gpu) {
        hint += mib(kv) + " of KV cache at -c " + std::to_string(n_ctx) + ")";
    } else {
        hint += "its " + std::string(info(type_k).name) + "/" + std::string(info(type_v).name) +
                " KV cache of " + mib(kv) + " at -c " + std::to_string(n_ctx) +
                " stays on the host: the GPU backend declines that cache type)";
    }
    if (gpu && gpu->probe().memory_free > 0 && per_block > 0) {
        const uint64_t free_bytes = gpu->probe().memory_free;
        const std::string fit = std::to_string(std::min<uint64_t>(
            free_bytes > kReserve ? (free_bytes - kReserve) / per_block : 0, uint64_t(hp.n_layer)));
        hint += "; the GPU had " + mib(free_bytes) + " free: about " + fit + " of the " +
                std::to_string(hp.n_layer) + " blocks fit, try -ngl " + fit;
    }
    return hint;
}

}  // namespace

struct Session::Compiled {
    LlamaGraph graph;
    std::unique_ptr<ExecutionPlan> plan;
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)), hparams_(model_->hparams()), options_(options) {
    auto log = logger("session");
    const LlamaHParams& hp = model_->hparams();
    // (Negated tests also refuse NaN.)
    if (!(options_.rope_freq_base >= 0.0f) || std::isinf(options_.rope_freq_base)) {
        throw Error("--rope-freq-base: expected a base > 0 (0: the model's), got " +
                    std::to_string(options_.rope_freq_base));
    }
    if (!(options_.rope_freq_scale >= 0.0f) || std::isinf(options_.rope_freq_scale)) {
        throw Error("--rope-freq-scale: expected a scale > 0 (0: the model's), got " +
                    std::to_string(options_.rope_freq_scale));
    }
    if (options_.rope_freq_base > 0.0f) hparams_.rope_freq_base = options_.rope_freq_base;
    if (options_.rope_freq_scale > 0.0f) hparams_.rope_freq_scale = options_.rope_freq_scale;
    if (options_.n_ctx < 0) {
        throw Error("-c: expected a context size >= 0, got " + std::to_string(options_.n_ctx));
    }
    n_ctx_ = options_.n_ctx > 0 ? options_.n_ctx : std::min(hp.n_ctx_train, 4096);
    for (const auto& [flag, kv] : {std::pair{"-ctk", options_.kv_type_k}, std::pair{"-ctv", options_.kv_type_v}}) {
        const std::string name(info(kv).name);
        if (std::find(kKvCacheTypes.begin(), kKvCacheTypes.end(), kv) == kKvCacheTypes.end()) {
            throw Error(std::string(flag) +
                        " (KV cache type): expected f16, bf16, f32, q8_0, q4_0, q4_1, q5_0 or q5_1, got " + name);
        }
        if (hp.head_dim() % info(kv).block_size != 0) {
            throw Error(std::string(flag) + " " + name + ": needs a head size that is a multiple of " +
                        std::to_string(info(kv).block_size) + "; " + model_->path() + " has heads of " +
                        std::to_string(hp.head_dim()));
        }
    }
    if (options_.n_batch <= 0) {
        throw Error("batch size: expected >= 1, got " + std::to_string(options_.n_batch));
    }
    const uint64_t k_bytes = kv_cache_bytes(hp, n_ctx_, options_.kv_type_k) * uint64_t(hp.n_layer);
    const uint64_t v_bytes = kv_cache_bytes(hp, n_ctx_, options_.kv_type_v) * uint64_t(hp.n_layer);
    const auto to_mib = [](uint64_t bytes) { return static_cast<double>(bytes) / double(1 << 20); };
    log->info("KV cache: {:.2f} MiB for -c {} (K {}: {:.2f} MiB, V {}: {:.2f} MiB)", to_mib(k_bytes + v_bytes), n_ctx_,
              info(options_.kv_type_k).name, to_mib(k_bytes), info(options_.kv_type_v).name, to_mib(v_bytes));

    registry_ = PluginRegistry::discover(options_.plugins);
    PlacementSpec spec = options_.placement;
    if (spec.n_gpu_layers > 0 && !registry_.find(spec.gpu_backend)) {
        log->warn("-ngl {}: no usable {} backend (see `llamux plugins`); running on {}",
                  spec.n_gpu_layers, spec.gpu_backend, spec.default_backend);
        spec.n_gpu_layers = 0;
    }
    placement_ = Placement::resolve(spec, hp.n_layer, options_.host_backend);
    log->info("placement: {}", placement_.describe());

    BackendOptions bopt;
    bopt.n_threads = options_.n_threads;
    bopt.n_threads_batch = options_.n_threads_batch;
    backends_ = std::make_unique<BackendSet>(registry_, placement_.backend_names(),
                                             options_.host_backend, bopt);
    const Model* m = model_.get();
    weights_ = std::make_unique<WeightStore>(
        [m](const std::string& name) { return m->weight_data(name); });
    kv_ = std::make_unique<KvCache>();
    try {
        plan(1, false);  // validates the weights and prepares them on their backends
    } catch (const Error& e) {
        const std::string what = e.what();
        if (spec.n_gpu_layers <= 0 || what.find("out of memory") == std::string::npos) throw;
        LlamaGraphOptions gopt;
        gopt.n_tokens = 1;
        gopt.n_ctx = n_ctx_;
        gopt.kv_type_k = options_.kv_type_k;
        gopt.kv_type_v = options_.kv_type_v;
        const LlamaGraph graph = build_llama_graph(hparams_, gopt, model_->weight_lookup());
        const bool kv_on_gpu = gpu_keeps_kv_cache(graph, placement_, *backends_, spec.gpu_backend);
        throw Error(what + "; " + gpu_fit_hint(*model_, registry_.find(spec.gpu_backend).get(), n_ctx_,
                                               options_.kv_type_k, options_.kv_type_v, kv_on_gpu));
    }
}

Session::~Session() {
    graphs_.clear();  // programs before the weights and caches they point to
    kv_.reset();
    weights_.reset();
    backends_.reset();
}

ExecutionPlan& Session::plan(int32_t n_tokens, bool all_logits) {
    return *compiled(n_tokens, all_logits ? Output::AllLogits : Output::LastLogits).plan;
}

Session::Compiled& Session::compiled(int32_t n_tokens, Output output) {
    const auto key = std::make_pair(n_tokens, output);
    if (auto it = graphs_.find(key); it != graphs_.end()) return *it->second;
    LlamaGraphOptions gopt;
    gopt.n_tokens = n_tokens;
    gopt.n_ctx = n_ctx_;
    gopt.all_logits = output == Output::AllLogits;
    gopt.embeddings = output == Output::Embeddings;
    gopt.kv_type_k = options_.kv_type_k;
    gopt.kv_type_v = options_.kv_type_v;
    auto compiled = std::make_unique<Compiled>();
    compiled->graph = build_llama_graph(hparams_, gopt, model_->weight_lookup());
    compiled->plan = std::make_unique<ExecutionPlan>(compiled->graph.graph, placement_, *backends_,
                                                     *weights_, *kv_);
    static const char* const kOutputs[] = {"last logits", "all logits", "embeddings"};
    logger("session")->debug("graph for {} tokens ({}): {} nodes, {} runs, {} copies", n_tokens,
                              kOutputs[static_cast<int>(output)],
                              compiled->graph.graph.nodes().size(),
                              compiled->plan->stats().n_runs, compiled->plan->stats().n_copies);
    return *graphs_.emplace(key, std::move(compiled)).first->second;
}

void Session::rewind(int32_t n) {
    if (n < 0 || n > n_past()) {
        throw Error("rewind: expected 0.." + std::to_string(n_past()) +
                    " (the positions evaluated), got " + std::to_string(n));
    }
    tokens_.resize(static_cast<size_t>(n));
}

void Session::shift(int32_t n_keep, int32_t n_discard) {
    if (n_keep < 0 || n_discard <= 0 || int64_t{n_keep} + n_discard > n_past()) {
        throw Error("context shift: expected 0 <= kept (" + std::to_string(n_keep) +
                    ") and 0 < discarded (" + std::to_string(n_discard) + ") with kept + discarded <= " +
                    std::to_string(n_past()) + " (the positions evaluated)");
    }
    const int32_t from = n_keep + n_discard;
    const auto start = std::chrono::steady_clock::now();
    shift_kv_rows(*kv_, hparams_, from, n_keep, n_past() - from, options_.n_threads);
    logger("session")->debug(
        "context shift: kept {}, dropped {}, moved {} positions in {:.1f} ms", n_keep, n_discard,
        n_past() - from,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    tokens_.erase(tokens_.begin() + n_keep, tokens_.begin() + from);
}

void Session::save_state(std::ostream& out) { write_session_state(out, *model_, *kv_, tokens_); }

void Session::load_state(std::istream& in, const std::string& source) {
    tokens_.clear();
    tokens_ = read_session_state(in, source, *model_, *kv_, n_ctx_);
}

std::vector<float> Session::prefill(const std::vector<int32_t>& prompt) {
    if (prompt.empty()) throw Error("prompt: no tokens to evaluate (empty prompt and no BOS)");
    if (static_cast<int64_t>(prompt.size()) > n_ctx_) {
        throw Error("prompt: " + std::to_string(prompt.size()) + " tokens do not fit the context of " +
                    std::to_string(n_ctx_) + " (raise -c or shorten the prompt)");
    }
    const auto limit = std::min(tokens_.size(), prompt.size() - 1);
    const auto keep = std::mismatch(tokens_.begin(), tokens_.begin() + static_cast<std::ptrdiff_t>(limit),
                                    prompt.begin()).first - tokens_.begin();
    rewind(static_cast<int32_t>(keep));
    return decode({prompt.begin() + keep, prompt.end()}, false);
}

std::vector<float> Session::decode(const std::vector<int32_t>& tokens, bool all_logits) {
    return evaluate(tokens, all_logits ? Output::AllLogits : Output::LastLogits);
}

std::vector<float> Session::embed(const std::vector<int32_t>& tokens) {
    return evaluate(tokens, Output::Embeddings);
}

std::vector<float> Session::evaluate(const std::vector<int32_t>& tokens, Output output) {
    const int32_t n_vocab = model_->hparams().n_vocab;
    const auto n = static_cast<int64_t>(tokens.size());
    if (n == 0) throw Error("decode: no tokens given");
    if (n_past() + n > n_ctx_) {
        throw Error("context full: " + std::to_string(n_past()) + " positions used + " +
                    std::to_string(n) + " new tokens > context size " + std::to_string(n_ctx_) +
                    " (raise -c)");
    }
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) {
            throw Error("token id " + std::to_string(t) + " out of range 0.." +
                        std::to_string(n_vocab - 1));
        }
    }
    // Rows of `width` values per position, for every position or only the last one.
    const bool every_position = output != Output::LastLogits;
    const auto width = static_cast<size_t>(output == Output::Embeddings ? model_->hparams().n_embd
                                                                        : n_vocab);
    std::vector<float> out;
    if (every_position) out.reserve(static_cast<size_t>(n) * width);
    for (int64_t start = 0; start < n; start += options_.n_batch) {
        const auto count = static_cast<int32_t>(std::min<int64_t>(options_.n_batch, n - start));
        const bool last_batch = start + count == n;
        Compiled& c = compiled(count, output);
        std::vector<int32_t> positions(static_cast<size_t>(count));
        std::iota(positions.begin(), positions.end(), n_past());
        c.plan->write_input(c.graph.tokens, tokens.data() + start, sizeof(int32_t) * size_t(count));
        c.plan->write_input(c.graph.positions, positions.data(), sizeof(int32_t) * size_t(count));
        c.plan->run(n_past());
        tokens_.insert(tokens_.end(), tokens.begin() + start, tokens.begin() + start + count);
        if (every_position || last_batch) {
            const size_t rows = every_position ? size_t(count) : 1;
            std::vector<float> values(rows * width);
            const TensorId result =
                output == Output::Embeddings ? c.graph.embeddings : c.graph.logits;
            c.plan->read_output(result, values.data(), values.size() * sizeof(float));
            if (every_position) {
                out.insert(out.end(), values.begin(), values.end());
            } else {
                out = std::move(values);
            }
        }
    }
    return out;
}

}  // namespace llamux
