// Random-weight Llama 2 GGUF files (see synth_model.hpp).
#include "llamux/synth_model.hpp"

#include <algorithm>
#include <cmath>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"

namespace llamux {
namespace {

const SynthShape kShapes[] = {
    {"tiny", 256, 4, 8, 4, 768, 512, 512},
    {"1b", 2048, 22, 32, 4, 5632, 32000, 2048},
    {"7b", 4096, 32, 32, 32, 11008, 32000, 4096},
    {"13b", 5120, 40, 40, 40, 13824, 32000, 4096},
};

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
    uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
    for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h;
}

// A row of roughly normal(mean, stddev) values: each value is the sum of four 16-bit
// uniforms of one 64-bit draw (Irwin-Hall, variance matched, bounded at 3.46 sigma).
void fill_row(uint64_t tensor_seed, int64_t row, float mean, float stddev, float* out,
              int64_t n) {
    uint64_t state = tensor_seed ^ (static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull);
    splitmix64(state);
    const float scale = stddev * std::sqrt(3.0f) / 65536.0f;
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t r = splitmix64(state);
        const auto sum = static_cast<float>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                            ((r >> 32) & 0xFFFF) + (r >> 48)) + 2.0f;
        out[i] = mean + (sum - 2.0f * 65536.0f) * scale;
    }
}

struct TensorSpec {
    std::string name;
    std::vector<int64_t> ne;
};

std::vector<TensorSpec> llama_tensors(const SynthShape& s) {
    const int64_t e = s.n_embd, ff = s.n_ff, v = s.n_vocab;
    const int64_t e_kv = e / s.n_head * s.n_head_kv;
    std::vector<TensorSpec> t = {
        {"token_embd.weight", {e, v}},
        {"output_norm.weight", {e}},
        {"output.weight", {e, v}},
    };
    for (int32_t i = 0; i < s.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        t.push_back({p + "attn_norm.weight", {e}});
        t.push_back({p + "attn_q.weight", {e, e}});
        t.push_back({p + "attn_k.weight", {e, e_kv}});
        t.push_back({p + "attn_v.weight", {e, e_kv}});
        t.push_back({p + "attn_output.weight", {e, e}});
        t.push_back({p + "ffn_norm.weight", {e}});
        t.push_back({p + "ffn_gate.weight", {e, ff}});
        t.push_back({p + "ffn_up.weight", {e, ff}});
        t.push_back({p + "ffn_down.weight", {ff, e}});
    }
    std::stable_sort(t.begin(), t.end(), [](const TensorSpec& a, const TensorSpec& b) {
        return tensor_order_less(a.name, b.name);
    });
    return t;
}

}  // namespace

std::optional<SynthShape> synth_shape(std::string_view name) {
    for (const auto& s : kShapes) {
        if (s.name == name) return s;
    }
    return std::nullopt;
}

const std::vector<std::string>& synth_shape_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto& s : kShapes) v.push_back(s.name);
        return v;
    }();
    return names;
}

SynthSummary write_synth_model(const std::string& path, const SynthOptions& options) {
    SynthShape shape = options.shape;
    if (shape.n_embd <= 0 || shape.n_layer <= 0 || shape.n_head <= 0 || shape.n_head_kv <= 0 ||
        shape.n_ff <= 0 || shape.n_embd % shape.n_head != 0 || shape.n_head % shape.n_head_kv != 0) {
        throw Error("synth: inconsistent shape '" + shape.name + "'");
    }
    if (options.vocab_from.empty()) throw Error("synth: no vocabulary file given");
    const GgufFile vocab = GgufFile::open(options.vocab_from);
    const GgufArray* tokens = vocab.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    if (!tokens || tokens->items.empty()) {
        throw Error(options.vocab_from + ": no tokenizer.ggml.tokens array to copy");
    }
    shape.n_vocab = static_cast<int32_t>(tokens->items.size());

    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "synthetic-" + shape.name);
    w.set_uint32("llama.context_length", static_cast<uint32_t>(shape.n_ctx));
    w.set_uint32("llama.embedding_length", static_cast<uint32_t>(shape.n_embd));
    w.set_uint32("llama.block_count", static_cast<uint32_t>(shape.n_layer));
    w.set_uint32("llama.feed_forward_length", static_cast<uint32_t>(shape.n_ff));
    w.set_uint32("llama.rope.dimension_count", static_cast<uint32_t>(shape.n_embd / shape.n_head));
    w.set_uint32("llama.attention.head_count", static_cast<uint32_t>(shape.n_head));
    w.set_uint32("llama.attention.head_count_kv", static_cast<uint32_t>(shape.n_head_kv));
    w.set_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_float32("llama.rope.freq_base", 10000.0f);
    w.set_uint32("llama.vocab_size", static_cast<uint32_t>(shape.n_vocab));
    for (const auto& [key, value] : vocab.metadata()) {
        if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
    }
    w.set_uint32("general.quantization_version", 2);
    w.set_uint32("general.file_type", static_cast<uint32_t>(options.type));

    MixContext ctx;
    ctx.n_layer = shape.n_layer;
    ctx.n_head = shape.n_head;
    ctx.n_head_kv = shape.n_head_kv;
    ctx.n_attn_v = shape.n_layer;
    ctx.has_output = true;

    const std::vector<TensorSpec> specs = llama_tensors(shape);
    SynthSummary summary;
    summary.n_tensors = specs.size();
    summary.n_vocab = shape.n_vocab;
    const uint64_t seed = options.seed;
    for (size_t i = 0; i < specs.size(); ++i) {
        const TensorSpec& t = specs[i];
        const TensorTypeChoice choice = choose_tensor_type(
            options.type, ctx, t.name, static_cast<uint32_t>(t.ne.size()), t.ne[0], DType::F32);
        int64_t n_rows = 1;
        for (size_t d = 1; d < t.ne.size(); ++d) n_rows *= t.ne[d];
        const uint64_t bytes = *row_bytes(choice.type, t.ne[0]) * static_cast<uint64_t>(n_rows);
        summary.n_params += static_cast<uint64_t>(t.ne[0] * n_rows);
        summary.tensor_bytes += bytes;

        const bool is_norm = t.ne.size() == 1;
        const float mean = is_norm ? 1.0f : 0.0f;
        const float stddev = is_norm ? options.norm_spread : options.weight_std;
        const uint64_t tensor_seed = hash_name(t.name) ^ (seed * 0x9E3779B97F4A7C15ull);
        SynthTensorEvent event{i, specs.size(), t.name, t.ne, choice.type, bytes};
        w.add_tensor_fill(t.name, choice.type, t.ne,
                          [&options, choice, t, n_rows, mean, stddev, tensor_seed, event](
                              uint8_t* dst, size_t) {
                              const int64_t n = t.ne[0];
                              quantize_generated_rows(
                                  choice.type, dst, n_rows, n, options.n_threads,
                                  [&](int64_t row, float* out) {
                                      fill_row(tensor_seed, row, mean, stddev, out, n);
                                  });
                              if (options.on_tensor) options.on_tensor(event);
                          });
    }
    w.write(path);
    return summary;
}

}  // namespace llamux
