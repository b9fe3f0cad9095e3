#include "llamux/model.hpp"

#include <limits>

#include "llamux/error.hpp"
#include "llamux/log.hpp"

namespace llamux {
namespace {

int32_t require_int(const GgufFile& f, const std::string& key) {
    const auto v = f.get_int(key);
    if (!v) throw Error(f.path() + ": missing key " + key);
    if (*v <= 0 || *v > std::numeric_limits<int32_t>::max()) {
        throw Error(f.path() + ": " + key + " is " + std::to_string(*v) + ", expected 1.." +
                    std::to_string(std::numeric_limits<int32_t>::max()));
    }
    return static_cast<int32_t>(*v);
}

}  // namespace

LlamaHParams read_llama_hparams(const GgufFile& f) {
    const auto arch = f.get_string("general.architecture");
    if (!arch) throw Error(f.path() + ": missing key general.architecture");
    if (*arch != "llama") {
        throw Error(f.path() + ": general.architecture is '" + *arch + "', expected 'llama'");
    }
    LlamaHParams hp;
    hp.n_embd = require_int(f, "llama.embedding_length");
    hp.n_layer = require_int(f, "llama.block_count");
    hp.n_ff = require_int(f, "llama.feed_forward_length");
    hp.n_head = require_int(f, "llama.attention.head_count");
    hp.n_head_kv = f.get_int("llama.attention.head_count_kv")
                       ? require_int(f, "llama.attention.head_count_kv")
                       : hp.n_head;
    hp.n_ctx_train = f.get_int("llama.context_length") ? require_int(f, "llama.context_length")
                                                        : 2048;
    hp.n_rot = f.get_int("llama.rope.dimension_count")
                   ? require_int(f, "llama.rope.dimension_count")
                   : hp.n_embd / hp.n_head;
    if (const auto eps = f.get_float("llama.attention.layer_norm_rms_epsilon")) {
        hp.rms_eps = static_cast<float>(*eps);
    }
    if (const auto base = f.get_float("llama.rope.freq_base")) {
        hp.rope_freq_base = static_cast<float>(*base);
    }
    if (const auto scale = f.get_float("llama.rope.scale_linear"); scale && *scale != 0.0) {
        hp.rope_freq_scale = static_cast<float>(1.0 / *scale);
    }
    if (f.get_int("llama.vocab_size")) {
        hp.n_vocab = require_int(f, "llama.vocab_size");
    } else if (const auto* tokens = f.get_array("tokenizer.ggml.tokens", GgufType::STRING)) {
        hp.n_vocab = static_cast<int32_t>(tokens->items.size());
    }
    hp.validate(f.path());
    return hp;
}

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
    GgufFile file = GgufFile::open(path, options);
    LlamaHParams hp = read_llama_hparams(file);
    Tokenizer tok = Tokenizer::from_gguf(file);
    if (tok.n_vocab() != hp.n_vocab) {
        throw Error(path + ": vocabulary has " + std::to_string(tok.n_vocab()) +
                    " tokens, llama.vocab_size says " + std::to_string(hp.n_vocab));
    }
    logger("model")->info("{}: {} blocks, width {}, {} heads ({} kv), ffn {}, vocab {}", path,
                          hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.n_ff, hp.n_vocab);
    return std::shared_ptr<const Model>(new Model(std::move(file), hp, std::move(tok)));
}

WeightLookup Model::weight_lookup() const {
    return [this](const std::string& name) -> std::optional<WeightSpec> {
        const GgufTensorInfo* t = file_.find_tensor(name);
        if (!t) return std::nullopt;
        return WeightSpec{t->dtype, t->ne};
    };
}

const void* Model::weight_data(const std::string& name) const {
    const GgufTensorInfo* t = file_.find_tensor(name);
    return t ? t->data : nullptr;
}

}  // namespace llamux
