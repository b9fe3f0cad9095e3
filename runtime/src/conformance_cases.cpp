// The fixed case list of the conformance suite: every op, every dtype the op takes, and
// shapes chosen to catch the usual mistakes of fast kernels -- odd row lengths that are no
// multiple of a vector width, 1/2/3/7 blocks of every weight type, token counts of 1 and
// more, grouped-query attention with 1, 2 and 4 query heads per KV head, n_past > 0, rotary
// dimensions fewer than the head's, and every KV cache type, keys and values alike or not.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "conformance_internal.hpp"
#include "llamux/ir.hpp"
#include "llamux/llama_graph.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::conformance {

AlignedBytes::AlignedBytes(size_t size)
    : data_(static_cast<std::byte*>(::operator new[](size ? size : 1, std::align_val_t{kAlignment}))),
      size_(size) {
    std::memset(data_.get(), 0, size ? size : 1);
}

void CaseTensor::restore() { std::memcpy(bytes.data(), initial.data(), bytes.size()); }

std::vector<float> to_floats(const lmx_tensor& t) {
    const int64_t n = t.ne[0];
    const int64_t rows = t.ne[1] * t.ne[2] * t.ne[3];
    std::vector<float> out(static_cast<size_t>(n * rows));
    for (int64_t r = 0; r < rows; ++r) {
        const auto* src = static_cast<const std::byte*>(t.data) + static_cast<size_t>(r) * t.nb[1];
        float* dst = out.data() + r * n;
        if (t.dtype == LMX_TYPE_F32) {
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
        } else if (t.dtype == LMX_TYPE_I32) {
            for (int64_t i = 0; i < n; ++i) {
                int32_t v = 0;
                std::memcpy(&v, src + i * 4, sizeof v);
                dst[i] = static_cast<float>(v);
            }
        } else {
            dequantize_row_ref(static_cast<DType>(t.dtype), src, dst, n);
        }
    }
    return out;
}

namespace {

constexpr DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};
// Key and value cache types of the attention cases: each type for both, and mixes (-ctk q8_0
// alone is llama.cpp users' usual one).
struct CacheTypes {
    DType k, v;
};
std::vector<CacheTypes> attention_cache_types() {
    std::vector<CacheTypes> out;
    for (DType t : kKvCacheTypes) out.push_back({t, t});
    for (CacheTypes mixed : {CacheTypes{DType::Q8_0, DType::F16}, CacheTypes{DType::F16, DType::Q4_0},
                             CacheTypes{DType::Q4_1, DType::Q5_0}, CacheTypes{DType::BF16, DType::Q5_1}}) {
        out.push_back(mixed);
    }
    return out;
}
constexpr DType kQuantTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                                 DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

uint32_t fnv1a(const std::string& s) {
    uint32_t h = 2166136261u;
    for (unsigned char c : s) h = (h ^ c) * 16777619u;
    return h;
}

std::string name_of(DType t) { return std::string(dtype_name(t)); }

// Builds one case: tensors with random contents, then the node over them.
class Builder {
public:
    Builder(lmx_op op, std::string dtypes, std::string shape, uint32_t seed)
        : rng_(seed ^ fnv1a(std::string(op_label(op)) + "|" + dtypes + "|" + shape)) {
        case_.op = op;
        case_.dtypes = std::move(dtypes);
        case_.shape = std::move(shape);
    }

    // A contiguous, zero-filled tensor of shape ne.
    lmx_tensor* tensor(const std::string& name, DType dtype, lmx_tensor_role role,
                       std::array<int64_t, LMX_MAX_DIMS> ne) {
        CaseTensor& ct = case_.tensors.emplace_back();
        ct.name = name;
        lmx_tensor& t = ct.t;
        t.dtype = static_cast<int32_t>(dtype);
        t.role = role;
        for (size_t k = 0; k < LMX_MAX_DIMS; ++k) t.ne[k] = ne[k];
        t.nb[0] = info(dtype).type_size;
        t.nb[1] = *row_bytes(dtype, ne[0]);
        for (size_t k = 2; k < LMX_MAX_DIMS; ++k) t.nb[k] = t.nb[k - 1] * static_cast<size_t>(ne[k - 1]);
        const size_t bytes = t.nb[3] * static_cast<size_t>(ne[3]);
        ct.bytes = AlignedBytes(bytes);
        ct.initial = AlignedBytes(bytes);
        t.data = ct.bytes.data();
        t.name = ct.name.c_str();
        return &t;
    }

    // Uniform random values in [lo, hi), stored as the tensor's type (converted or
    // quantized row by row).
    void uniform(lmx_tensor* t, float lo, float hi) {
        std::uniform_real_distribution<float> dist(lo, hi);
        const int64_t n = t->ne[0];
        std::vector<float> row(static_cast<size_t>(n));
        for (int64_t r = 0; r < t->ne[1] * t->ne[2] * t->ne[3]; ++r) {
            for (float& v : row) v = dist(rng_);
            void* dst = static_cast<std::byte*>(t->data) + static_cast<size_t>(r) * t->nb[1];
            if (t->dtype == LMX_TYPE_F32) {
                std::memcpy(dst, row.data(), row.size() * sizeof(float));
            } else if (t->dtype == LMX_TYPE_F16) {
                for (int64_t i = 0; i < n; ++i) static_cast<f16_bits*>(dst)[i] = f32_to_f16(row[size_t(i)]);
            } else if (t->dtype == LMX_TYPE_BF16) {
                for (int64_t i = 0; i < n; ++i) static_cast<bf16_bits*>(dst)[i] = f32_to_bf16(row[size_t(i)]);
            } else {
                quantize_row_ref(static_cast<DType>(t->dtype), row.data(), dst, n);
            }
        }
    }

    void ints(lmx_tensor* t, const std::vector<int32_t>& values) {
        std::memcpy(t->data, values.data(), values.size() * sizeof(int32_t));
    }

    // Finishes the case: the node, its executions, and the initial contents of every tensor.
    void finish(std::deque<Case>& out, lmx_node node, std::vector<int32_t> n_pasts = {0}) {
        for (CaseTensor& ct : case_.tensors) {
            ct.is_dst = &ct.t == node.dst;
            std::memcpy(ct.initial.data(), ct.bytes.data(), ct.bytes.size());
        }
        case_.node = node;
        case_.n_pasts = std::move(n_pasts);
        out.push_back(std::move(case_));
    }

private:
    static std::string_view op_label(lmx_op op) { return op_name(op); }
    std::mt19937 rng_;
    Case case_;
};

lmx_node make_node(lmx_op op, lmx_tensor* dst, std::initializer_list<const lmx_tensor*> src,
                   std::initializer_list<int32_t> iparams = {},
                   std::initializer_list<float> fparams = {}) {
    lmx_node n{};
    n.op = op;
    n.layer = 0;
    n.dst = dst;
    size_t i = 0;
    for (const lmx_tensor* s : src) n.src[i++] = s;
    i = 0;
    for (int32_t p : iparams) n.iparams[i++] = p;
    i = 0;
    for (float p : fparams) n.fparams[i++] = p;
    return n;
}

// "37x6" for {37, 6, 1}: trailing 1s left out.
std::string dims(std::initializer_list<int64_t> ne) {
    std::vector<int64_t> v(ne);
    while (v.size() > 1 && v.back() == 1) v.pop_back();
    std::string s;
    for (int64_t n : v) s += (s.empty() ? "" : "x") + std::to_string(n);
    return s;
}

// ---- the ops ------------------------------------------------------------------------------

void get_rows_cases(std::deque<Case>& out, uint32_t seed) {
    auto one = [&](DType t, int64_t n_embd, int64_t n_tok) {
        const int64_t n_vocab = 9;
        Builder b(LMX_OP_GET_ROWS, name_of(t) + " [i32] -> f32",
                  "n_embd=" + std::to_string(n_embd) + " n_vocab=9 n_tok=" + std::to_string(n_tok),
                  seed);
        lmx_tensor* table = b.tensor("token_embd.weight", t, LMX_ROLE_WEIGHT, {n_embd, n_vocab, 1, 1});
        b.uniform(table, -1.0f, 1.0f);
        lmx_tensor* ids = b.tensor("tokens", DType::I32, LMX_ROLE_INPUT, {n_tok, 1, 1, 1});
        const std::vector<int32_t> all = {8, 0, 4, 4, 7, 2};  // first, last and repeated rows
        b.ints(ids, std::vector<int32_t>(all.begin(), all.begin() + n_tok));
        lmx_tensor* dst = b.tensor("inp_embd", DType::F32, LMX_ROLE_ACTIVATION, {n_embd, n_tok, 1, 1});
        b.finish(out, make_node(LMX_OP_GET_ROWS, dst, {table, ids}));
    };
    for (int64_t n_tok : {1, 6}) {
        for (DType t : kFloatTypes) one(t, 37, n_tok);
        for (DType t : kQuantTypes) {
            for (int64_t blocks : {1, 3}) one(t, blocks * info(t).block_size, n_tok);
        }
    }
}

void rms_norm_cases(std::deque<Case>& out, uint32_t seed) {
    const std::array<int64_t, 3> shapes[] = {{1, 1, 1},   {7, 1, 1},   {7, 5, 1},  {33, 1, 1},
                                             {33, 5, 1},  {255, 1, 1}, {255, 5, 1}, {4099, 1, 1},
                                             {4099, 2, 1}, {16, 3, 2}};
    for (const auto& s : shapes) {
        const float eps = s[0] % 2 ? 1e-5f : 1e-6f;
        Builder b(LMX_OP_RMS_NORM, "f32, f32 -> f32",
                  dims({s[0], s[1], s[2]}) + (eps == 1e-5f ? " eps=1e-5" : " eps=1e-6"), seed);
        lmx_tensor* x = b.tensor("inpL", DType::F32, LMX_ROLE_ACTIVATION, {s[0], s[1], s[2], 1});
        b.uniform(x, -2.0f, 2.0f);
        lmx_tensor* w = b.tensor("blk.0.attn_norm.weight", DType::F32, LMX_ROLE_WEIGHT, {s[0], 1, 1, 1});
        b.uniform(w, -1.5f, 1.5f);
        lmx_tensor* dst = b.tensor("attn_norm", DType::F32, LMX_ROLE_ACTIVATION, {s[0], s[1], s[2], 1});
        b.finish(out, make_node(LMX_OP_RMS_NORM, dst, {x, w}, {}, {eps}));
    }
}

// swiglu and add: F32 of one shape.
void binary_cases(std::deque<Case>& out, uint32_t seed, lmx_op op) {
    const std::array<int64_t, 3> shapes[] = {{1, 1, 1}, {7, 3, 1}, {33, 5, 1}, {4099, 2, 1}, {16, 4, 3}};
    for (const auto& s : shapes) {
        Builder b(op, "f32, f32 -> f32", dims({s[0], s[1], s[2]}), seed);
        const bool swiglu = op == LMX_OP_SWIGLU;
        lmx_tensor* a = b.tensor(swiglu ? "ffn_gate" : "attn_out", DType::F32, LMX_ROLE_ACTIVATION,
                                 {s[0], s[1], s[2], 1});
        b.uniform(a, swiglu ? -8.0f : -10.0f, swiglu ? 8.0f : 10.0f);
        lmx_tensor* c = b.tensor(swiglu ? "ffn_up" : "inpL", DType::F32, LMX_ROLE_ACTIVATION,
                                 {s[0], s[1], s[2], 1});
        b.uniform(c, swiglu ? -4.0f : -10.0f, swiglu ? 4.0f : 10.0f);
        lmx_tensor* dst = b.tensor(swiglu ? "ffn_act" : "ffn_inp", DType::F32, LMX_ROLE_ACTIVATION,
                                   {s[0], s[1], s[2], 1});
        b.finish(out, make_node(op, dst, {a, c}));
    }
}

void copy_cases(std::deque<Case>& out, uint32_t seed) {
    const std::pair<DType, DType> pairs[] = {{DType::F32, DType::F32},  {DType::F32, DType::F16},
                                             {DType::F32, DType::BF16}, {DType::F16, DType::F32},
                                             {DType::BF16, DType::F32}, {DType::F16, DType::F16}};
    struct Shape {
        std::array<int64_t, 4> src, dst;
    };
    const Shape shapes[] = {{{37, 3, 1, 1}, {37, 3, 1, 1}},
                            {{5, 4, 3, 1}, {5, 4, 3, 1}},
                            {{37, 6, 1, 1}, {222, 1, 1, 1}}};  // a reshape: memory order
    for (const auto& [from, to] : pairs) {
        for (const Shape& s : shapes) {
            Builder b(LMX_OP_COPY, name_of(from) + " -> " + name_of(to),
                      dims({s.src[0], s.src[1], s.src[2]}) + " -> " + dims({s.dst[0], s.dst[1], s.dst[2]}),
                      seed);
            lmx_tensor* src = b.tensor("result_norm", from, LMX_ROLE_ACTIVATION, s.src);
            b.uniform(src, -3.0f, 3.0f);
            lmx_tensor* dst = b.tensor("result_copy", to, LMX_ROLE_ACTIVATION, s.dst);
            b.finish(out, make_node(LMX_OP_COPY, dst, {src}));
        }
    }
}

void matmul_cases(std::deque<Case>& out, uint32_t seed) {
    auto one = [&](DType t, int64_t K, int64_t N, int64_t M) {
        Builder b(LMX_OP_MATMUL, name_of(t) + " x f32 -> f32",
                  "K=" + std::to_string(K) + " N=" + std::to_string(N) + " M=" + std::to_string(M), seed);
        lmx_tensor* w = b.tensor("blk.0.ffn_down.weight", t, LMX_ROLE_WEIGHT, {K, N, 1, 1});
        b.uniform(w, -1.0f, 1.0f);
        lmx_tensor* x = b.tensor("ffn_act", DType::F32, LMX_ROLE_ACTIVATION, {K, M, 1, 1});
        b.uniform(x, -1.0f, 1.0f);
        lmx_tensor* dst = b.tensor("ffn_out", DType::F32, LMX_ROLE_ACTIVATION, {N, M, 1, 1});
        b.finish(out, make_node(LMX_OP_MATMUL, dst, {w, x}));
    };
    for (DType t : kFloatTypes) {
        for (int64_t K : {1, 17, 259}) {
            for (int64_t M : {1, 3, 17}) one(t, K, 13, M);
        }
        one(t, 259, 67, 5);
    }
    for (DType t : kQuantTypes) {
        const int64_t bs = info(t).block_size;
        for (int64_t blocks : {1, 2, 3, 7}) {
            for (int64_t M : {1, 3, 17}) one(t, blocks * bs, 13, M);
        }
        one(t, 2 * bs, 67, 5);
        // Whole 16 x 16 blocks and edges in both directions (backends with matrix units),
        // and rows in whole groups of 16 (weights some backends repack).
        one(t, 3 * bs, 37, 35);
        one(t, 3 * bs, 32, 1);
        one(t, 3 * bs, 32, 17);
    }
}

void rope_cases(std::deque<Case>& out, uint32_t seed) {
    struct Shape {
        int64_t head_dim, n_rot, n_head, n_tok;
        int32_t pos0;
        float base, scale;
    };
    const Shape shapes[] = {{64, 64, 3, 5, 0, 1e4f, 1.0f},    {64, 32, 3, 5, 300, 1e4f, 1.0f},
                            {64, 64, 1, 1, 4000, 1e4f, 1.0f}, {8, 8, 8, 7, 11, 1e4f, 1.0f},
                            {80, 40, 2, 3, 17, 5e5f, 0.25f},  {128, 128, 2, 2, 1000, 1e6f, 1.0f},
                            {6, 2, 1, 3, 2, 1e4f, 1.0f}};
    for (const Shape& s : shapes) {
        char params[96];
        std::snprintf(params, sizeof params, " pos=%d.. base=%g scale=%g", s.pos0,
                      static_cast<double>(s.base), static_cast<double>(s.scale));
        Builder b(LMX_OP_ROPE, "f32 [i32] -> f32",
                  "hd=" + std::to_string(s.head_dim) + " n_rot=" + std::to_string(s.n_rot) +
                      " heads=" + std::to_string(s.n_head) + " tok=" + std::to_string(s.n_tok) + params,
                  seed);
        lmx_tensor* x = b.tensor("Qcur", DType::F32, LMX_ROLE_ACTIVATION, {s.head_dim, s.n_head, s.n_tok, 1});
        b.uniform(x, -1.0f, 1.0f);
        lmx_tensor* pos = b.tensor("positions", DType::I32, LMX_ROLE_INPUT, {s.n_tok, 1, 1, 1});
        std::vector<int32_t> p(static_cast<size_t>(s.n_tok));
        for (size_t t = 0; t < p.size(); ++t) p[t] = s.pos0 + static_cast<int32_t>(t);
        b.ints(pos, p);
        lmx_tensor* dst = b.tensor("Qcur_rope", DType::F32, LMX_ROLE_ACTIVATION, {s.head_dim, s.n_head, s.n_tok, 1});
        b.finish(out, make_node(LMX_OP_ROPE, dst, {x, pos}, {static_cast<int32_t>(s.n_rot)},
                                {s.base, s.scale}));
    }
}

void kv_store_cases(std::deque<Case>& out, uint32_t seed) {
    const int64_t n_ctx = 16;
    struct Shape {
        std::array<int64_t, 4> src;  // [n_embd_kv, n_tok] or [head_dim, n_head_kv, n_tok]
        int64_t n_embd_kv;
    };
    const Shape shapes[] = {{{64, 1, 1, 1}, 64}, {{96, 7, 1, 1}, 96}, {{16, 4, 3, 1}, 64}};
    for (DType cache_type : kKvCacheTypes) {
        for (const Shape& s : shapes) {
            Builder b(LMX_OP_KV_STORE, "f32 -> " + name_of(cache_type),
                      dims({s.src[0], s.src[1], s.src[2]}) + " into " + std::to_string(s.n_embd_kv) +
                          "x" + std::to_string(n_ctx),
                      seed);
            lmx_tensor* src = b.tensor("Kcur_rope", DType::F32, LMX_ROLE_ACTIVATION, s.src);
            b.uniform(src, -1.0f, 1.0f);
            lmx_tensor* cache = b.tensor("cache_k_l0", cache_type, LMX_ROLE_KV_CACHE, {s.n_embd_kv, n_ctx, 1, 1});
            b.uniform(cache, -1.0f, 1.0f);  // rows outside the store must keep these values
            b.finish(out, make_node(LMX_OP_KV_STORE, cache, {src}), {0, 9});
        }
    }
}

void attention_cases(std::deque<Case>& out, uint32_t seed) {
    const int64_t n_ctx = 24;
    const int64_t n_head_kv = 2;
    for (const CacheTypes& types : attention_cache_types()) {
        const bool blocks = info(types.k).quantized || info(types.v).quantized;
        const std::string kv = types.k == types.v ? name_of(types.k) + " kv"
                                                  : name_of(types.k) + " k, " + name_of(types.v) + " v";
        for (int64_t head_dim : {8, 64}) {
            if (blocks && head_dim % 32 != 0) continue;  // whole blocks per head
            for (int64_t group : {1, 2, 4}) {
                for (int64_t n_tok : {1, 5}) {
                    const int64_t n_head = n_head_kv * group;
                    Builder b(LMX_OP_ATTENTION, "f32, " + kv + " -> f32",
                              "hd=" + std::to_string(head_dim) + " heads=" + std::to_string(n_head) +
                                  "/" + std::to_string(n_head_kv) + " tok=" + std::to_string(n_tok) +
                                  " ctx=" + std::to_string(n_ctx),
                              seed);
                    lmx_tensor* q = b.tensor("Qcur_rope", DType::F32, LMX_ROLE_ACTIVATION,
                                             {head_dim, n_head, n_tok, 1});
                    b.uniform(q, -2.0f, 2.0f);
                    // Every cache row holds values, also those past n_past + n_tok: a
                    // backend that reads beyond the causal limit sees them.
                    lmx_tensor* k = b.tensor("cache_k_l0", types.k, LMX_ROLE_KV_CACHE,
                                             {head_dim * n_head_kv, n_ctx, 1, 1});
                    b.uniform(k, -2.0f, 2.0f);
                    lmx_tensor* v = b.tensor("cache_v_l0", types.v, LMX_ROLE_KV_CACHE,
                                             {head_dim * n_head_kv, n_ctx, 1, 1});
                    b.uniform(v, -1.0f, 1.0f);
                    lmx_tensor* dst = b.tensor("kqv_out", DType::F32, LMX_ROLE_ACTIVATION,
                                               {head_dim * n_head, n_tok, 1, 1});
                    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
                    b.finish(out,
                             make_node(LMX_OP_ATTENTION, dst, {q, k, v},
                                       {static_cast<int32_t>(n_head), static_cast<int32_t>(n_head_kv)},
                                       {scale}),
                             {0, 13});
                }
            }
        }
    }
}

}  // namespace

std::deque<Case> make_cases(lmx_op only, uint32_t seed) {
    std::deque<Case> out;
    auto wanted = [&](lmx_op op) { return only == LMX_OP_NONE || only == op; };
    if (wanted(LMX_OP_GET_ROWS)) get_rows_cases(out, seed);
    if (wanted(LMX_OP_RMS_NORM)) rms_norm_cases(out, seed);
    if (wanted(LMX_OP_MATMUL)) matmul_cases(out, seed);
    if (wanted(LMX_OP_ROPE)) rope_cases(out, seed);
    if (wanted(LMX_OP_KV_STORE)) kv_store_cases(out, seed);
    if (wanted(LMX_OP_ATTENTION)) attention_cases(out, seed);
    if (wanted(LMX_OP_SWIGLU)) binary_cases(out, seed, LMX_OP_SWIGLU);
    if (wanted(LMX_OP_ADD)) binary_cases(out, seed, LMX_OP_ADD);
    if (wanted(LMX_OP_COPY)) copy_cases(out, seed);
    return out;
}

}  // namespace llamux::conformance
