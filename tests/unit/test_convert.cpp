// llamux convert: Hugging Face checkpoints built by the test itself (safetensors and a
// SentencePiece tokenizer.model written here) converted to GGUF and compared with files
// llama.cpp's converter made: the Llama 2 vocabulary against ggml-vocab-llama-spm.gguf, the
// weights of synth-tiny and stories260K round-tripped through an HF directory (Q/K
// un-permuted, F32/F16/BF16 safetensors) byte for byte, the same greedy text from
// `llamux run`, and the error cases of the command.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "llamux/gguf.hpp"
#include "llamux/hf_convert.hpp"
#include "llamux/quant_ref.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

// ---- Writing a Hugging Face checkpoint ----------------------------------------------------

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out + "\"";
}

struct HfTensor {
    std::string name;
    std::vector<int64_t> shape;  // PyTorch order
    std::vector<float> values;
};

// `values` stored as a safetensors dtype.
std::vector<uint8_t> encode(const std::vector<float>& values, const std::string& dtype) {
    std::vector<uint8_t> out;
    for (const float v : values) {
        uint8_t b[4];
        size_t n = 2;
        if (dtype == "F32") {
            std::memcpy(b, &v, 4);
            n = 4;
        } else {
            const uint16_t h = dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(b, &h, 2);
        }
        out.insert(out.end(), b, b + n);
    }
    return out;
}

// One safetensors file: header length, JSON header padded with spaces to 8 bytes, data.
void write_safetensors(const fs::path& path, const std::vector<const HfTensor*>& tensors,
                       const std::string& dtype) {
    std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
    std::vector<uint8_t> data;
    for (const HfTensor* t : tensors) {
        const std::vector<uint8_t> bytes = encode(t->values, dtype);
        std::string shape;
        for (const int64_t d : t->shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        header += "," + json_string(t->name) + ":{\"dtype\":\"" + dtype + "\",\"shape\":[" + shape +
                  "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
                  std::to_string(data.size() + bytes.size()) + "]}";
        data.insert(data.end(), bytes.begin(), bytes.end());
    }
    header += "}";
    while (header.size() % 8 != 0) header += ' ';
    std::ofstream out(path, std::ios::binary);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// The weights as model.safetensors, or as `shards` files with model.safetensors.index.json.
void write_weights(const fs::path& dir, const std::vector<HfTensor>& tensors,
                   const std::string& dtype, int shards) {
    if (shards <= 1) {
        std::vector<const HfTensor*> all;
        for (const auto& t : tensors) all.push_back(&t);
        write_safetensors(dir / "model.safetensors", all, dtype);
        return;
    }
    std::string map;
    for (int s = 0; s < shards; ++s) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
        std::vector<const HfTensor*> part;
        for (size_t i = static_cast<size_t>(s); i < tensors.size(); i += static_cast<size_t>(shards)) {
            part.push_back(&tensors[i]);
            map += (map.empty() ? "" : ",") + json_string(tensors[i].name) + ":" + json_string(name);
        }
        write_safetensors(dir / name, part, dtype);
    }
    write_text(dir / "model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":0},\"weight_map\":{" + map + "}}");
}

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out += static_cast<char>((v & 0x7F) | 0x80);
        v >>= 7;
    }
    out += static_cast<char>(v);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
    put_varint(out, field << 3 | 2);
    put_varint(out, bytes.size());
    out += bytes;
}

// A SentencePiece ModelProto with these pieces, plus trainer and normalizer specs the reader
// must skip (varint, fixed32 and length-delimited fields).
std::string sentencepiece_model(const std::vector<std::string>& pieces,
                                const std::vector<float>& scores, const std::vector<int32_t>& types) {
    std::string model;
    for (size_t i = 0; i < pieces.size(); ++i) {
        std::string p;
        put_bytes(p, 1, pieces[i]);
        put_varint(p, 2 << 3 | 5);
        char f[4];
        std::memcpy(f, &scores[i], 4);
        p.append(f, 4);
        if (types[i] != 1) {
            put_varint(p, 3 << 3 | 0);
            put_varint(p, static_cast<uint64_t>(types[i]));
        }
        put_bytes(model, 1, p);
    }
    std::string trainer;
    put_varint(trainer, 3 << 3 | 0);
    put_varint(trainer, 1);  // model_type UNIGRAM
    put_varint(trainer, 4 << 3 | 0);
    put_varint(trainer, static_cast<uint64_t>(pieces.size()));
    put_bytes(trainer, 40, "ignored");
    put_bytes(model, 2, trainer);
    std::string normalizer;
    put_bytes(normalizer, 1, "identity");
    put_varint(normalizer, 3 << 3 | 0);
    put_varint(normalizer, 1);
    put_bytes(model, 3, normalizer);
    return model;
}

struct Hparams {
    int64_t n_embd = 0, n_ff = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_vocab = 0, n_ctx = 0;
    double eps = 1e-5;
    std::optional<double> rope_base;
    bool tied = false;
};

std::string config_json(const Hparams& h, const std::string& arch = "LlamaForCausalLM") {
    char eps[64];
    std::snprintf(eps, sizeof eps, "%.9g", h.eps);
    std::string s = "{\"architectures\":[\"" + arch + "\"],\"model_type\":\"llama\"," +
                    "\"hidden_size\":" + std::to_string(h.n_embd) +
                    ",\"intermediate_size\":" + std::to_string(h.n_ff) +
                    ",\"num_hidden_layers\":" + std::to_string(h.n_layer) +
                    ",\"num_attention_heads\":" + std::to_string(h.n_head) +
                    ",\"num_key_value_heads\":" + std::to_string(h.n_head_kv) +
                    ",\"vocab_size\":" + std::to_string(h.n_vocab) +
                    ",\"max_position_embeddings\":" + std::to_string(h.n_ctx) +
                    ",\"rms_norm_eps\":" + eps + ",\"bos_token_id\":1,\"eos_token_id\":2" +
                    ",\"tie_word_embeddings\":" + (h.tied ? "true" : "false") +
                    ",\"torch_dtype\":\"float32\"";
    if (h.rope_base) s += ",\"rope_theta\":" + std::to_string(*h.rope_base);
    return s + "}";
}

// The HF tensor names and shapes of a Llama model, in the order a GGUF lists its tensors.
std::vector<HfTensor> llama_tensor_shapes(const Hparams& h) {
    const int64_t kv = h.n_head_kv * (h.n_embd / h.n_head);
    std::vector<HfTensor> t = {{"model.embed_tokens.weight", {h.n_vocab, h.n_embd}, {}},
                               {"model.norm.weight", {h.n_embd}, {}}};
    if (!h.tied) t.push_back({"lm_head.weight", {h.n_vocab, h.n_embd}, {}});
    for (int64_t l = 0; l < h.n_layer; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        t.push_back({p + "input_layernorm.weight", {h.n_embd}, {}});
        t.push_back({p + "self_attn.q_proj.weight", {h.n_embd, h.n_embd}, {}});
        t.push_back({p + "self_attn.k_proj.weight", {kv, h.n_embd}, {}});
        t.push_back({p + "self_attn.v_proj.weight", {kv, h.n_embd}, {}});
        t.push_back({p + "self_attn.o_proj.weight", {h.n_embd, h.n_embd}, {}});
        t.push_back({p + "post_attention_layernorm.weight", {h.n_embd}, {}});
        t.push_back({p + "mlp.gate_proj.weight", {h.n_ff, h.n_embd}, {}});
        t.push_back({p + "mlp.up_proj.weight", {h.n_ff, h.n_embd}, {}});
        t.push_back({p + "mlp.down_proj.weight", {h.n_embd, h.n_ff}, {}});
    }
    return t;
}

// llama_tensor_shapes with every value drawn from `value()`.
std::vector<HfTensor> llama_tensors(const Hparams& h, const std::function<float()>& value) {
    std::vector<HfTensor> tensors = llama_tensor_shapes(h);
    for (HfTensor& t : tensors) {
        int64_t n = 1;
        for (const int64_t d : t.shape) n *= d;
        t.values.resize(static_cast<size_t>(n));
        for (float& v : t.values) v = value();
    }
    return tensors;
}

// The GGUF name of an HF tensor name (the test's own table, independent of the converter's).
std::string gguf_name(const std::string& hf) {
    static const std::map<std::string, std::string> fixed = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"}};
    static const std::map<std::string, std::string> layer = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"}};
    if (const auto it = fixed.find(hf); it != fixed.end()) return it->second;
    const size_t a = std::string("model.layers.").size();
    const size_t dot = hf.find('.', a);
    return "blk." + hf.substr(a, dot - a) + "." + layer.at(hf.substr(dot + 1));
}

int64_t kv_value(const GgufFile& g, const std::string& key, int64_t fallback) {
    return g.get_int(key).value_or(fallback);
}

// An HF checkpoint holding a llama.cpp-converted GGUF's weights: Q and K rows un-permuted
// (llama.cpp's converter permutes them), names and config as Hugging Face writes them, the
// vocabulary as a tokenizer.model.
Hparams write_hf_from_gguf(const GgufFile& g, const fs::path& dir, const std::string& dtype,
                           int shards) {
    Hparams h;
    h.n_embd = *g.get_int("llama.embedding_length");
    h.n_ff = *g.get_int("llama.feed_forward_length");
    h.n_layer = *g.get_int("llama.block_count");
    h.n_head = *g.get_int("llama.attention.head_count");
    h.n_head_kv = kv_value(g, "llama.attention.head_count_kv", h.n_head);
    h.n_ctx = *g.get_int("llama.context_length");
    h.eps = *g.get_float("llama.attention.layer_norm_rms_epsilon");
    h.rope_base = g.get_float("llama.rope.freq_base");
    const GgufArray* tokens = g.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    const GgufArray* scores = g.get_array("tokenizer.ggml.scores", GgufType::FLOAT32);
    const GgufArray* types = g.get_array("tokenizer.ggml.token_type", GgufType::INT32);
    h.n_vocab = static_cast<int64_t>(tokens->items.size());
    h.tied = g.find_tensor("output.weight") == nullptr;

    std::vector<HfTensor> tensors = llama_tensor_shapes(h);
    for (HfTensor& t : tensors) {
        const GgufTensorInfo* src = g.find_tensor(gguf_name(t.name));
        EXPECT_NE(src, nullptr) << t.name;
        if (!src) continue;
        EXPECT_EQ(src->dtype, DType::F32) << src->name;
        const auto* f = static_cast<const float*>(src->data);
        t.values.assign(f, f + src->n_bytes / 4);
        int64_t heads = 0;
        if (t.name.ends_with("q_proj.weight")) heads = h.n_head;
        if (t.name.ends_with("k_proj.weight")) heads = h.n_head_kv;
        if (heads == 0) continue;
        const int64_t rows = t.shape[0], cols = t.shape[1], head_rows = rows / heads;
        std::vector<float> hf(t.values.size());
        for (int64_t r = 0; r < rows; ++r) {  // GGUF row r holds HF row `from`
            const int64_t head = r / head_rows, i = r % head_rows;
            const int64_t from = head * head_rows + (i % 2) * (head_rows / 2) + i / 2;
            std::memcpy(&hf[static_cast<size_t>(from * cols)], &t.values[static_cast<size_t>(r * cols)],
                        static_cast<size_t>(cols) * 4);
        }
        t.values = std::move(hf);
    }
    write_weights(dir, tensors, dtype, shards);
    write_text(dir / "config.json", config_json(h));

    std::vector<std::string> pieces;
    std::vector<float> sc;
    std::vector<int32_t> ty;
    for (size_t i = 0; i < tokens->items.size(); ++i) {
        pieces.push_back(*tokens->items[i].as_string());
        sc.push_back(static_cast<float>(*scores->items[i].as_float()));
        ty.push_back(static_cast<int32_t>(*types->items[i].as_int()));
    }
    write_text(dir / "tokenizer.model", sentencepiece_model(pieces, sc, ty));
    write_text(dir / "tokenizer_config.json",
               "{\"add_bos_token\":true,\"add_eos_token\":false,\"bos_token\":\"<s>\","
               "\"eos_token\":\"</s>\",\"unk_token\":\"<unk>\",\"pad_token\":null}");
    return h;
}

// A random-weight checkpoint of a small shape with the Llama 2 tokenizer (vocab 32000).
Hparams write_random_checkpoint(const fs::path& dir, const fs::path& tokenizer, bool tied,
                                const std::string& dtype = "F32") {
    Hparams h;
    h.n_embd = 64, h.n_ff = 128, h.n_layer = 2, h.n_head = 4, h.n_head_kv = 2, h.n_vocab = 32000;
    h.n_ctx = 4096, h.tied = tied, h.rope_base = 10000.0;
    std::mt19937 rng(tied ? 7 : 11);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    write_weights(dir, llama_tensors(h, [&] { return dist(rng); }), dtype, 1);
    write_text(dir / "config.json", config_json(h));
    fs::copy_file(tokenizer, dir / "tokenizer.model");
    return h;
}

// ---- Comparing ----------------------------------------------------------------------------

void expect_same_vocab(const GgufFile& a, const GgufFile& e) {
    for (const char* key : {"tokenizer.ggml.model", "tokenizer.ggml.bos_token_id",
                            "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"}) {
        const GgufValue* ev = e.find(key);
        if (!ev) continue;
        const GgufValue* av = a.find(key);
        ASSERT_NE(av, nullptr) << key;
        EXPECT_EQ(av->type, ev->type) << key;
        EXPECT_EQ(av->to_display(), ev->to_display()) << key;
    }
    const GgufArray* at = a.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    const GgufArray* et = e.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    const GgufArray* as = a.get_array("tokenizer.ggml.scores", GgufType::FLOAT32);
    const GgufArray* es = e.get_array("tokenizer.ggml.scores", GgufType::FLOAT32);
    const GgufArray* ay = a.get_array("tokenizer.ggml.token_type", GgufType::INT32);
    const GgufArray* ey = e.get_array("tokenizer.ggml.token_type", GgufType::INT32);
    ASSERT_TRUE(at && et && as && es && ay && ey);
    ASSERT_EQ(at->items.size(), et->items.size());
    ASSERT_EQ(as->items.size(), es->items.size());
    ASSERT_EQ(ay->items.size(), ey->items.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < et->items.size() && mismatches < 10; ++i) {
        const bool same = *at->items[i].as_string() == *et->items[i].as_string() &&
                          *as->items[i].as_float() == *es->items[i].as_float() &&
                          *ay->items[i].as_int() == *ey->items[i].as_int();
        if (!same) {
            ++mismatches;
            ADD_FAILURE() << "token " << i << ": " << *at->items[i].as_string() << " vs "
                          << *et->items[i].as_string();
        }
    }
}

void expect_same_hparams(const GgufFile& a, const GgufFile& e) {
    for (const auto& [key, value] : e.metadata()) {
        if (key.rfind("llama.", 0) != 0) continue;
        const GgufValue* av = a.find(key);
        ASSERT_NE(av, nullptr) << key;
        EXPECT_EQ(av->type, value.type) << key;
        EXPECT_EQ(av->to_display(), value.to_display()) << key;
    }
    const GgufArray* tokens = e.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    EXPECT_EQ(a.get_int("llama.vocab_size"), static_cast<int64_t>(tokens->items.size()));
    EXPECT_EQ(a.get_string("general.architecture"), "llama");
}

// Every tensor of `expected` (F32) is in `actual`, with the same shape, stored as the type
// `convert` gives (F32 for norms), holding `convert`'s bits.
void expect_tensors(const GgufFile& actual, const GgufFile& expected, DType out,
                    const std::function<std::vector<uint8_t>(const std::vector<float>&, DType)>& convert) {
    ASSERT_EQ(actual.tensors().size(), expected.tensors().size());
    for (const GgufTensorInfo& et : expected.tensors()) {
        const GgufTensorInfo* at = actual.find_tensor(et.name);
        ASSERT_NE(at, nullptr) << et.name;
        EXPECT_EQ(at->ne, et.ne) << et.name;
        const DType want = et.n_dims == 1 ? DType::F32 : out;
        EXPECT_EQ(dtype_name(at->dtype), dtype_name(want)) << et.name;
        const auto* f = static_cast<const float*>(et.data);
        const std::vector<uint8_t> bytes = convert(std::vector<float>(f, f + et.n_bytes / 4), want);
        ASSERT_EQ(at->n_bytes, bytes.size()) << et.name;
        EXPECT_EQ(std::memcmp(at->data, bytes.data(), bytes.size()), 0) << et.name << ": bytes differ";
    }
}

// Plain storage as `to`, optionally after a round trip through a safetensors dtype.
std::vector<uint8_t> stored(const std::vector<float>& v, DType to, const std::string& via = "F32") {
    std::vector<float> x = v;
    if (via != "F32") {
        for (float& f : x) f = via == "F16" ? f16_to_f32(f32_to_f16(f)) : bf16_to_f32(f32_to_bf16(f));
    }
    return encode(x, to == DType::F32 ? "F32" : to == DType::F16 ? "F16" : "BF16");
}

std::string greedy_text(const fs::path& model) {
    const auto r = test::run_llamux({"run", "-m", model.string(), "-p", "Once upon a time", "-n",
                                     "24", "--temp", "0", "-t", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

test::CommandResult convert(const fs::path& dir, const fs::path& out, const std::string& type) {
    return test::run_llamux({"convert", dir.string(), "-o", out.string(), "--outtype", type});
}

// ---- Tests --------------------------------------------------------------------------------

// The Llama 2 tokenizer gives llama.cpp's vocabulary: tokens, scores, types, special ids.
TEST(Convert, Llama2VocabularyMatchesLlamaCpp) {
    LLAMUX_FIXTURE(tokenizer, "models/tokenizer.model");
    LLAMUX_FIXTURE(reference, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    const GgufFile ref = GgufFile::open(reference.string());
    for (const bool tied : {true, false}) {
        SCOPED_TRACE(tied ? "tied embeddings" : "separate output");
        test::TempDir dir;
        const fs::path hf = dir.path() / "Llama-2-tiny-hf";
        fs::create_directories(hf);
        write_random_checkpoint(hf, tokenizer, tied);
        write_text(hf / "tokenizer_config.json",
                   "{\"add_bos_token\":true,\"add_eos_token\":false,\"bos_token\":\"<s>\","
                   "\"eos_token\":\"</s>\",\"unk_token\":{\"content\":\"<unk>\",\"lstrip\":false},"
                   "\"pad_token\":null,\"chat_template\":\"{{ bos_token }}\\n{{ x }}\"}");
        if (tied) {  // with tokenizer.json: special ids from its added_tokens, as llama.cpp reads them
            write_text(hf / "tokenizer.json",
                       "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\"},"
                       "{\"id\":1,\"content\":\"<s>\"},{\"id\":2,\"content\":\"</s>\"}]}");
        }
        const fs::path out = dir.path() / "out.gguf";
        const auto r = convert(hf, out, "f32");
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const GgufFile g = GgufFile::open(out.string());
        expect_same_vocab(g, ref);
        EXPECT_EQ(g.find("tokenizer.ggml.padding_token_id"), nullptr);
        EXPECT_EQ(g.get_string("tokenizer.ggml.pre"), "default");
        EXPECT_EQ(g.get_string("tokenizer.chat_template"), "{{ bos_token }}\n{{ x }}");
        EXPECT_EQ(g.get_string("general.name"), "Llama-2-tiny-hf");
        EXPECT_EQ(g.get_int("general.file_type"), 0);
        EXPECT_EQ(g.get_int("llama.vocab_size"), 32000);
        EXPECT_EQ(g.get_int("llama.rope.dimension_count"), 16);
        EXPECT_EQ(g.find_tensor("output.weight") != nullptr, !tied);
        EXPECT_EQ(g.tensors().size(), tied ? 20u : 21u);
        // The embeddings come through unchanged; Q is permuted.
        const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
        ASSERT_NE(embd, nullptr);
        EXPECT_EQ(embd->ne[0], 64);
        EXPECT_EQ(embd->ne[1], 32000);
    }
}

// A checkpoint with fewer pieces than vocab_size is padded as llama.cpp pads it.
TEST(Convert, PadsTheVocabularyToVocabSize) {
    test::TempDir dir;
    const fs::path hf = dir.path() / "hf";
    fs::create_directories(hf);
    Hparams h;
    h.n_embd = 8, h.n_ff = 16, h.n_layer = 1, h.n_head = 2, h.n_head_kv = 2, h.n_vocab = 6;
    h.n_ctx = 64, h.tied = true;
    write_weights(hf, llama_tensors(h, [] { return 0.5f; }), "BF16", 1);
    write_text(hf / "config.json", config_json(h));
    write_text(hf / "tokenizer.model",
               sentencepiece_model({"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a"}, {0, 0, 0, -1.5f},
                                   {2, 3, 3, 1}));
    write_text(hf / "added_tokens.json", "{\"<extra>\": 5}");
    ConvertOptions o;
    o.input_dir = hf.string();
    o.output_path = (dir.path() / "out.gguf").string();
    o.type = FileType::BF16;
    o.name = "padded";
    std::vector<std::string> seen;
    const ConvertSummary s =
        convert_hf_llama(o, [&](const ConvertTensorEvent& e) { seen.push_back(e.name); });
    EXPECT_EQ(s.n_tensors, 11u);
    EXPECT_EQ(seen.size(), 11u);
    const GgufFile g = GgufFile::open(o.output_path);
    const GgufArray* tokens = g.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    const GgufArray* types = g.get_array("tokenizer.ggml.token_type", GgufType::INT32);
    const GgufArray* scores = g.get_array("tokenizer.ggml.scores", GgufType::FLOAT32);
    ASSERT_EQ(tokens->items.size(), 6u);
    EXPECT_EQ(*tokens->items[4].as_string(), "[PAD4]");
    EXPECT_EQ(*types->items[4].as_int(), 5);
    EXPECT_EQ(*scores->items[4].as_float(), -10000.0);
    EXPECT_EQ(*tokens->items[5].as_string(), "<extra>");
    EXPECT_EQ(*types->items[5].as_int(), 4);
    EXPECT_EQ(*scores->items[3].as_float(), -1.5);
    EXPECT_EQ(g.get_string("general.name"), "padded");
    EXPECT_EQ(g.get_int("general.file_type"), 32);
    EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->dtype, DType::BF16);
    EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->dtype, DType::F32);
    EXPECT_EQ(g.get_int("tokenizer.ggml.bos_token_id"), 1);
}

struct RoundTrip {
    const char* model;      // fixture
    const char* st_dtype;   // safetensors dtype written
    int shards;
};

class ConvertRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

// GGUF -> HF directory -> llamux convert --outtype f32 gives the original tensors byte for
// byte (through F32 safetensors; through F16/BF16 the values those types hold), the same
// hyperparameters and vocabulary, and the same greedy text.
TEST_P(ConvertRoundTrip, GivesTheOriginalTensors) {
    const RoundTrip p = GetParam();
    LLAMUX_FIXTURE(model, p.model);
    const GgufFile orig = GgufFile::open(model.string());
    test::TempDir dir;
    const fs::path hf = dir.path() / "hf";
    fs::create_directories(hf);
    write_hf_from_gguf(orig, hf, p.st_dtype, p.shards);

    const fs::path out = dir.path() / "out-f32.gguf";
    const auto r = convert(hf, out, "f32");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const GgufFile g = GgufFile::open(out.string());
    expect_same_hparams(g, orig);
    expect_same_vocab(g, orig);
    const std::string via = p.st_dtype;
    expect_tensors(g, orig, DType::F32,
                   [&](const std::vector<float>& v, DType t) { return stored(v, t, via); });
    if (via == "F32") {
        EXPECT_EQ(greedy_text(out), greedy_text(model));
    }

    // f16 from F32 or F16 input: f32_to_f16 of the original; bf16 from BF16: f32_to_bf16.
    const std::string outtype = via == "BF16" ? "bf16" : "f16";
    const DType out_type = via == "BF16" ? DType::BF16 : DType::F16;
    const fs::path out16 = dir.path() / "out-16.gguf";
    const auto r16 = convert(hf, out16, outtype);
    ASSERT_EQ(r16.exit_code, 0) << r16.err;
    const GgufFile g16 = GgufFile::open(out16.string());
    EXPECT_EQ(g16.get_int("general.file_type"), via == "BF16" ? 32 : 1);
    expect_tensors(g16, orig, out_type,
                   [&](const std::vector<float>& v, DType t) { return stored(v, t, via); });
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ConvertRoundTrip,
    ::testing::Values(RoundTrip{"models/synth/synth-tiny-F32.gguf", "F32", 3},
                      RoundTrip{"models/stories260K.gguf", "F32", 1},
                      RoundTrip{"models/stories260K.gguf", "BF16", 2},
                      RoundTrip{"models/synth/synth-tiny-F32.gguf", "F16", 1}),
    [](const ::testing::TestParamInfo<RoundTrip>& param) {
        std::string n = fs::path(param.param.model).stem().string() + "_" + param.param.st_dtype +
                        "_" + std::to_string(param.param.shards);
        for (char& c : n) {
            if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        }
        return n;
    });

// ---- Errors -------------------------------------------------------------------------------

class ConvertErrors : public ::testing::Test {
protected:
    void SetUp() override {
        hf_ = dir_.path() / "hf";
        fs::create_directories(hf_);
        h_.n_embd = 16, h_.n_ff = 32, h_.n_layer = 2, h_.n_head = 4, h_.n_head_kv = 2;
        h_.n_vocab = 4, h_.n_ctx = 64, h_.tied = true;
        tensors_ = llama_tensors(h_, [] { return 0.25f; });
        write_weights(hf_, tensors_, "F32", 1);
        write_text(hf_ / "config.json", config_json(h_));
        write_text(hf_ / "tokenizer.model",
                   sentencepiece_model({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, -1}, {2, 3, 3, 1}));
    }
    // Converting fails with a message holding each of `needles`, and writes no file.
    void expect_error(const std::vector<std::string>& needles) {
        const fs::path out = dir_.path() / "out.gguf";
        const auto r = convert(hf_, out, "f16");
        EXPECT_NE(r.exit_code, 0);
        for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(out));
    }
    void rewrite_weights() {
        fs::remove(hf_ / "model.safetensors");
        write_weights(hf_, tensors_, "F32", 1);
    }

    test::TempDir dir_;
    fs::path hf_;
    Hparams h_;
    std::vector<HfTensor> tensors_;
};

// The valid checkpoint of the error cases converts; each Q and K row holds its HF row index,
// and the rows come out in the order numpy gives for llama.cpp's LlamaModel.permute
// (reshape(n_head, 2, head_dim / 2, n_embd).swapaxes(1, 2)), computed once with numpy.
TEST_F(ConvertErrors, ValidCheckpointConvertsWithLlamaCppPermutation) {
    for (const size_t i : {3u, 4u}) {  // layer 0's q_proj (4 heads), k_proj (2 kv heads)
        ASSERT_TRUE(tensors_[i].name.ends_with(i == 3 ? "q_proj.weight" : "k_proj.weight"));
        for (size_t k = 0; k < tensors_[i].values.size(); ++k) {
            tensors_[i].values[k] = static_cast<float>(k / 16);
        }
    }
    rewrite_weights();
    const fs::path out = dir_.path() / "ok.gguf";
    const auto r = convert(hf_, out, "f32");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const GgufFile g = GgufFile::open(out.string());
    const std::vector<int> q_rows = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
    for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_k.weight"}) {
        const GgufTensorInfo* t = g.find_tensor(name);
        ASSERT_NE(t, nullptr) << name;
        const auto* v = static_cast<const float*>(t->data);
        for (int64_t row = 0; row < t->ne[1]; ++row) {
            EXPECT_EQ(v[row * 16], static_cast<float>(q_rows[static_cast<size_t>(row)]))
                << name << " row " << row;
        }
    }
    EXPECT_EQ(g.get_int("llama.attention.head_count_kv"), 2);
    EXPECT_EQ(g.get_string("general.size_label"), "4.8K");  // 4752 parameters
    EXPECT_EQ(g.get_int("general.quantization_version"), 2);
}

TEST_F(ConvertErrors, MissingConfig) {
    fs::remove(hf_ / "config.json");
    expect_error({"config.json", "no such file"});
}

TEST_F(ConvertErrors, MissingConfigKey) {
    write_text(hf_ / "config.json", "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":16}");
    expect_error({"config.json", "missing key intermediate_size"});
}

TEST_F(ConvertErrors, UnsupportedArchitecture) {
    write_text(hf_ / "config.json", config_json(h_, "GPT2LMHeadModel"));
    expect_error({"config.json", "GPT2LMHeadModel", "LlamaForCausalLM"});
}

TEST_F(ConvertErrors, MissingTensor) {
    tensors_.erase(tensors_.begin() + 4);  // layer 0's k_proj
    rewrite_weights();
    expect_error({"model.layers.0.self_attn.k_proj.weight", "missing"});
}

TEST_F(ConvertErrors, ShapeMismatch) {
    tensors_[12].shape = {32, 8};  // layer 1's q_proj: [16, 16] in the config
    tensors_[12].values.resize(256);
    rewrite_weights();
    expect_error({"model.layers.1.self_attn.q_proj.weight", "[16, 16]", "[32, 8]"});
}

TEST_F(ConvertErrors, TruncatedSafetensors) {
    const fs::path st = hf_ / "model.safetensors";
    fs::resize_file(st, fs::file_size(st) - 100);
    expect_error({"model.safetensors", "truncated"});
    fs::resize_file(st, 20);
    expect_error({"model.safetensors", "header"});
    fs::resize_file(st, 3);
    expect_error({"model.safetensors", "8 bytes"});
}

TEST_F(ConvertErrors, UnsupportedDtype) {
    // A tensor declared I32: the converter names the dtype.
    std::string header = "{\"model.embed_tokens.weight\":{\"dtype\":\"I32\",\"shape\":[4,16],"
                         "\"data_offsets\":[0,256]}}";
    while (header.size() % 8) header += ' ';
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>(header.size() >> (8 * i));
    write_text(hf_ / "model.safetensors", bytes + header + std::string(256, '\0'));
    expect_error({"model.embed_tokens.weight", "I32"});
}

TEST_F(ConvertErrors, VocabularyLargerThanEmbeddings) {
    write_text(hf_ / "tokenizer.model",
               sentencepiece_model({"<unk>", "<s>", "</s>", "a", "b"}, {0, 0, 0, -1, -2},
                                   {2, 3, 3, 1, 1}));
    expect_error({"tokenizer.model", "5 pieces", "vocab_size"});
}

TEST_F(ConvertErrors, MalformedTokenizer) {
    write_text(hf_ / "tokenizer.model", std::string("\x0a\x7f\x0a\x03", 4));
    expect_error({"tokenizer.model", "truncated"});
}

TEST_F(ConvertErrors, UnknownTensorAndBadOutType) {
    tensors_.push_back({"model.layers.1.self_attn.q_proj.bias", {16}, std::vector<float>(16, 0.0f)});
    rewrite_weights();
    expect_error({"model.layers.1.self_attn.q_proj.bias", "cannot map"});
    const auto r = convert(hf_, dir_.path() / "x.gguf", "q4_0");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("--outtype"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace llamux
