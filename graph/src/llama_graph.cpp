#include "llamux/llama_graph.hpp"

#include <cmath>

#include "llamux/error.hpp"

namespace llamux {
namespace {

using Shape = std::array<int64_t, LMX_MAX_DIMS>;

std::string shape_text(const Shape& ne, int dims) {
    std::string s;
    for (int i = 0; i < dims; ++i) {
        if (i) s += 'x';
        s += std::to_string(ne[static_cast<size_t>(i)]);
    }
    return s;
}

class Builder {
public:
    Builder(const LlamaHParams& hp, const LlamaGraphOptions& opt, const WeightLookup& lookup)
        : hp_(hp), opt_(opt), lookup_(lookup) {}

    LlamaGraph build();

private:
    // A weight of the expected shape, added once as a WEIGHT tensor.
    TensorId weight(const std::string& name, Shape expected, int dims, int32_t layer);
    TensorId activation(const std::string& name, Shape ne, int32_t layer) {
        return g_.add_tensor(name, DType::F32, LMX_ROLE_ACTIVATION, ne, layer);
    }
    TensorId node(lmx_op op, int32_t layer, std::initializer_list<TensorId> srcs, TensorId dst) {
        Node n;
        n.op = op;
        n.layer = layer;
        size_t i = 0;
        for (TensorId s : srcs) n.src[i++] = s;
        n.dst = dst;
        last_ = &g_.add_node(n);
        return dst;
    }
    TensorId rms_norm(TensorId x, TensorId w, int32_t layer, const std::string& name,
                      lmx_tensor_role role = LMX_ROLE_ACTIVATION);
    TensorId matmul(TensorId w, TensorId x, int32_t layer, const std::string& name);
    TensorId rope(TensorId x, TensorId pos, int32_t layer, const std::string& name);
    void block(int32_t il);

    const LlamaHParams& hp_;
    const LlamaGraphOptions& opt_;
    const WeightLookup& lookup_;
    Graph g_;
    Node* last_ = nullptr;
    TensorId x_ = kNoTensor;    // residual stream [n_embd, T]
    TensorId pos_ = kNoTensor;  // positions I32[T]
};

TensorId Builder::weight(const std::string& name, Shape expected, int dims, int32_t layer) {
    const auto spec = lookup_(name);
    if (!spec) {
        throw Error("tensor " + name + ": missing from the model file (expected " +
                    shape_text(expected, dims) + ")");
    }
    if (spec->ne != expected) {
        throw Error("tensor " + name + ": expected " + shape_text(expected, dims) +
                    ", file has " + shape_text(spec->ne, LMX_MAX_DIMS));
    }
    return g_.add_tensor(name, spec->dtype, LMX_ROLE_WEIGHT, expected, layer);
}

TensorId Builder::rms_norm(TensorId x, TensorId w, int32_t layer, const std::string& name,
                           lmx_tensor_role role) {
    const Shape ne = g_.tensor(x).ne;
    node(LMX_OP_RMS_NORM, layer, {x, w}, g_.add_tensor(name, DType::F32, role, ne, layer));
    last_->fparams[0] = hp_.rms_eps;
    return last_->dst;
}

TensorId Builder::matmul(TensorId w, TensorId x, int32_t layer, const std::string& name) {
    const int64_t n_out = g_.tensor(w).ne[1];
    const int64_t m = g_.tensor(x).ne[1];
    return node(LMX_OP_MATMUL, layer, {w, x}, activation(name, {n_out, m, 1, 1}, layer));
}

TensorId Builder::rope(TensorId x, TensorId pos, int32_t layer, const std::string& name) {
    node(LMX_OP_ROPE, layer, {x, pos}, activation(name, g_.tensor(x).ne, layer));
    last_->iparams[0] = hp_.n_rot;
    last_->fparams[0] = hp_.rope_freq_base;
    last_->fparams[1] = hp_.rope_freq_scale;
    return last_->dst;
}

void Builder::block(int32_t il) {
    const int64_t T = opt_.n_tokens;
    const int64_t E = hp_.n_embd, Ekv = hp_.n_embd_kv(), F = hp_.n_ff, D = hp_.head_dim();
    const std::string p = "blk." + std::to_string(il) + ".";
    const std::string a = "l" + std::to_string(il) + ".";

    // Attention: x += Wo * attention(rope(Wq h), rope(Wk h), Wv h), h = rmsnorm(x)
    const TensorId h = rms_norm(x_, weight(p + "attn_norm.weight", {E, 1, 1, 1}, 1, il), il,
                                a + "attn_norm");
    const TensorId q = matmul(weight(p + "attn_q.weight", {E, E, 1, 1}, 2, il), h, il, a + "q");
    const TensorId k =
        matmul(weight(p + "attn_k.weight", {E, Ekv, 1, 1}, 2, il), h, il, a + "k");
    const TensorId v =
        matmul(weight(p + "attn_v.weight", {E, Ekv, 1, 1}, 2, il), h, il, a + "v");
    const TensorId q3 = g_.add_view(q, a + "q_heads", {D, hp_.n_head, T, 1});
    const TensorId k3 = g_.add_view(k, a + "k_heads", {D, hp_.n_head_kv, T, 1});
    const TensorId qr = rope(q3, pos_, il, a + "q_rope");
    const TensorId kr = rope(k3, pos_, il, a + "k_rope");

    const TensorId k_cache = g_.add_tensor(kv_cache_name(true, il), opt_.kv_type_k,
                                           LMX_ROLE_KV_CACHE, {Ekv, opt_.n_ctx, 1, 1}, il);
    const TensorId v_cache = g_.add_tensor(kv_cache_name(false, il), opt_.kv_type_v,
                                           LMX_ROLE_KV_CACHE, {Ekv, opt_.n_ctx, 1, 1}, il);
    node(LMX_OP_KV_STORE, il, {kr}, k_cache);
    node(LMX_OP_KV_STORE, il, {v}, v_cache);
    node(LMX_OP_ATTENTION, il, {qr, k_cache, v_cache}, activation(a + "attn", {E, T, 1, 1}, il));
    last_->iparams[0] = hp_.n_head;
    last_->iparams[1] = hp_.n_head_kv;
    last_->fparams[0] = 1.0f / std::sqrt(static_cast<float>(D));
    const TensorId attn = last_->dst;

    const TensorId o =
        matmul(weight(p + "attn_output.weight", {E, E, 1, 1}, 2, il), attn, il, a + "attn_out");
    x_ = node(LMX_OP_ADD, il, {x_, o}, activation(a + "resid_attn", {E, T, 1, 1}, il));

    // Feed-forward: x += Wdown * (silu(Wgate h) * Wup h), h = rmsnorm(x)
    const TensorId h2 = rms_norm(x_, weight(p + "ffn_norm.weight", {E, 1, 1, 1}, 1, il), il,
                                 a + "ffn_norm");
    const TensorId gate =
        matmul(weight(p + "ffn_gate.weight", {E, F, 1, 1}, 2, il), h2, il, a + "ffn_gate");
    const TensorId up =
        matmul(weight(p + "ffn_up.weight", {E, F, 1, 1}, 2, il), h2, il, a + "ffn_up");
    const TensorId act =
        node(LMX_OP_SWIGLU, il, {gate, up}, activation(a + "ffn_act", {F, T, 1, 1}, il));
    const TensorId down =
        matmul(weight(p + "ffn_down.weight", {F, E, 1, 1}, 2, il), act, il, a + "ffn_down");
    x_ = node(LMX_OP_ADD, il, {x_, down}, activation(a + "resid_ffn", {E, T, 1, 1}, il));
}

LlamaGraph Builder::build() {
    const int64_t T = opt_.n_tokens;
    const int64_t E = hp_.n_embd, V = hp_.n_vocab;
    const int32_t head_layer = hp_.n_layer;
    LlamaGraph out;
    out.n_layer = hp_.n_layer;

    out.tokens = g_.add_tensor("inp_tokens", DType::I32, LMX_ROLE_INPUT, {T, 1, 1, 1});
    out.positions = g_.add_tensor("inp_pos", DType::I32, LMX_ROLE_INPUT, {T, 1, 1, 1});
    pos_ = out.positions;

    const TensorId embd = weight("token_embd.weight", {E, V, 1, 1}, 2, -1);
    x_ = node(LMX_OP_GET_ROWS, -1, {embd, out.tokens}, activation("inp_embd", {E, T, 1, 1}, -1));

    for (int32_t il = 0; il < hp_.n_layer; ++il) block(il);

    if (opt_.embeddings) {  // every position's hidden state after the output norm
        const TensorId norm_w = weight("output_norm.weight", {E, 1, 1, 1}, 1, head_layer);
        out.embeddings = rms_norm(x_, norm_w, head_layer, "embeddings", LMX_ROLE_OUTPUT);
        out.graph = std::move(g_);
        return out;
    }
    // Head: only the last position unless every position's logits are wanted.
    const int64_t n_out = opt_.all_logits ? T : 1;
    TensorId last = x_;
    if (!opt_.all_logits && T > 1) {
        last = g_.add_view(x_, "last_token", {E, 1, 1, 1},
                           static_cast<size_t>(T - 1) * static_cast<size_t>(E) * sizeof(float));
    }
    const TensorId norm_w = weight("output_norm.weight", {E, 1, 1, 1}, 1, head_layer);
    const TensorId normed = rms_norm(last, norm_w, head_layer, "output_norm");
    const TensorId head = lookup_("output.weight")
                              ? weight("output.weight", {E, V, 1, 1}, 2, head_layer)
                              : weight("token_embd.weight", {E, V, 1, 1}, 2, head_layer);
    out.logits = node(LMX_OP_MATMUL, head_layer, {head, normed},
                      g_.add_tensor("logits", DType::F32, LMX_ROLE_OUTPUT, {V, n_out, 1, 1},
                                    head_layer));
    out.graph = std::move(g_);
    return out;
}

}  // namespace

void LlamaHParams::validate(const std::string& source) const {
    auto bad = [&](const std::string& what, int64_t value, const std::string& expected) {
        throw Error(source + ": " + what + " is " + std::to_string(value) + ", expected " +
                    expected);
    };
    if (n_vocab <= 0) bad("vocabulary size", n_vocab, "> 0");
    if (n_embd <= 0) bad("llama.embedding_length", n_embd, "> 0");
    if (n_layer <= 0) bad("llama.block_count", n_layer, "> 0");
    if (n_ff <= 0) bad("llama.feed_forward_length", n_ff, "> 0");
    if (n_head <= 0) bad("llama.attention.head_count", n_head, "> 0");
    if (n_embd % n_head != 0)
        bad("llama.embedding_length", n_embd,
            "a multiple of head_count " + std::to_string(n_head));
    if (n_head_kv <= 0 || n_head % n_head_kv != 0)
        bad("llama.attention.head_count_kv", n_head_kv,
            "a divisor of head_count " + std::to_string(n_head));
    if (n_rot <= 0 || n_rot > head_dim() || n_rot % 2 != 0)
        bad("llama.rope.dimension_count", n_rot,
            "an even number <= head dimension " + std::to_string(head_dim()));
    if (!(rms_eps > 0.0f)) throw Error(source + ": rms epsilon must be > 0");
    if (!(rope_freq_base > 0.0f)) throw Error(source + ": rope.freq_base must be > 0");
}

std::string kv_cache_name(bool keys, int32_t layer) {
    return (keys ? "cache_k.l" : "cache_v.l") + std::to_string(layer);
}

LlamaGraph build_llama_graph(const LlamaHParams& hp, const LlamaGraphOptions& options,
                             const WeightLookup& weights) {
    if (options.n_tokens <= 0 || options.n_tokens > options.n_ctx) {
        throw Error("graph batch of " + std::to_string(options.n_tokens) +
                    " tokens: expected 1.." + std::to_string(options.n_ctx));
    }
    return Builder(hp, options, weights).build();
}

}  // namespace llamux
