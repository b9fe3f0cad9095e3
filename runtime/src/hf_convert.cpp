// Hugging Face Llama checkpoint -> GGUF (see hf_convert.hpp): the weights. The config is
// read by hf_convert_config.cpp, the vocabulary by hf_convert_vocab.cpp.
#include "llamux/hf_convert.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

#include "hf_convert_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/gguf_writer.hpp"
#include "llamux/log.hpp"
#include "llamux/quant_ref.hpp"
#include "safetensors.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

// What a Hugging Face tensor is in a Llama model.
enum class Role { TokenEmbd, OutputNorm, Output, AttnNorm, Q, K, V, O, FfnNorm, Gate, Up, Down };

struct LayerTensor {
    const char* hf_suffix;  // after "model.layers.N."
    const char* gguf_suffix;  // after "blk.N."
    Role role;
};
constexpr LayerTensor kLayerTensors[] = {
    {"input_layernorm.weight", "attn_norm.weight", Role::AttnNorm},
    {"self_attn.q_proj.weight", "attn_q.weight", Role::Q},
    {"self_attn.k_proj.weight", "attn_k.weight", Role::K},
    {"self_attn.v_proj.weight", "attn_v.weight", Role::V},
    {"self_attn.o_proj.weight", "attn_output.weight", Role::O},
    {"post_attention_layernorm.weight", "ffn_norm.weight", Role::FfnNorm},
    {"mlp.gate_proj.weight", "ffn_gate.weight", Role::Gate},
    {"mlp.up_proj.weight", "ffn_up.weight", Role::Up},
    {"mlp.down_proj.weight", "ffn_down.weight", Role::Down},
};

struct Mapped {
    std::string gguf_name;
    Role role = Role::TokenEmbd;
};

// The GGUF name of a Hugging Face tensor name; nullopt for a name that is not a Llama tensor.
std::optional<Mapped> map_tensor_name(const std::string& hf, int64_t n_layer) {
    if (hf == "model.embed_tokens.weight") return Mapped{"token_embd.weight", Role::TokenEmbd};
    if (hf == "model.norm.weight") return Mapped{"output_norm.weight", Role::OutputNorm};
    if (hf == "lm_head.weight") return Mapped{"output.weight", Role::Output};
    const std::string prefix = "model.layers.";
    if (hf.rfind(prefix, 0) != 0) return std::nullopt;
    const size_t dot = hf.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
    const std::string digits = hf.substr(prefix.size(), dot - prefix.size());
    if (digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return std::nullopt;
    const int64_t layer = std::stoll(digits);
    if (layer >= n_layer) return std::nullopt;
    const std::string rest = hf.substr(dot + 1);
    for (const LayerTensor& t : kLayerTensors) {
        if (rest == t.hf_suffix) {
            return Mapped{"blk." + std::to_string(layer) + "." + t.gguf_suffix, t.role};
        }
    }
    return std::nullopt;
}

// Tensors llama.cpp drops without a word.
bool is_ignored(const std::string& hf) {
    for (const char* s : {".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq"}) {
        const std::string suffix = s;
        if (hf.size() >= suffix.size() &&
            hf.compare(hf.size() - suffix.size(), suffix.size(), suffix) == 0) {
            return true;
        }
    }
    return false;
}

// The PyTorch shape a role must have.
std::vector<int64_t> expected_shape(Role role, const hf::Config& c) {
    const int64_t n_embd_kv = c.n_head_kv * (c.n_embd / c.n_head);
    switch (role) {
        case Role::TokenEmbd:
        case Role::Output: return {c.n_vocab, c.n_embd};
        case Role::OutputNorm:
        case Role::AttnNorm:
        case Role::FfnNorm: return {c.n_embd};
        case Role::Q:
        case Role::O: return {c.n_embd, c.n_embd};
        case Role::K:
        case Role::V: return {n_embd_kv, c.n_embd};
        case Role::Gate:
        case Role::Up: return {c.n_ff, c.n_embd};
        case Role::Down: return {c.n_embd, c.n_ff};
    }
    return {};
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// One output tensor and where its data comes from.
struct Plan {
    std::string name;
    const SafetensorsTensor* src = nullptr;
    DType to = DType::F32;
    std::vector<int64_t> ne;     // GGUF order
    int64_t permute_heads = 0;   // > 0: rows permuted as llama.cpp's LlamaModel.permute
};

// The source row of output row r under llama.cpp's permute(n_head): within each head of
// `head_rows` rows, the first half (the even RoPE components) and the second half are
// interleaved.
int64_t permuted_source_row(int64_t r, int64_t head_rows) {
    const int64_t head = r / head_rows, in_head = r % head_rows;
    return head * head_rows + (in_head % 2) * (head_rows / 2) + in_head / 2;
}

void convert_row(DType from, const uint8_t* src, DType to, uint8_t* dst, int64_t n, float* tmp) {
    if (from == to) {
        std::memcpy(dst, src, *row_bytes(to, n));
        return;
    }
    dequantize_row_ref(from, src, tmp, n);  // F32, F16 and BF16 are "dequantized" exactly
    if (to == DType::F32) {
        std::memcpy(dst, tmp, sizeof(float) * static_cast<size_t>(n));
    } else {
        quantize_row_ref(to, tmp, dst, n);  // F16/BF16: round to nearest even
    }
}

void fill_tensor(const Plan& p, uint8_t* dst) {
    const DType from = *p.src->dtype;
    const int64_t cols = p.ne[0];
    const int64_t rows = p.ne.size() > 1 ? p.ne[1] : 1;
    const size_t src_row = *row_bytes(from, cols);
    const size_t dst_row = *row_bytes(p.to, cols);
    const int64_t head_rows = p.permute_heads > 0 ? rows / p.permute_heads : 0;
    auto work = [&](int64_t r0, int64_t r1) {
        std::vector<float> tmp(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t s = head_rows > 0 ? permuted_source_row(r, head_rows) : r;
            convert_row(from, p.src->data + static_cast<size_t>(s) * src_row, p.to,
                        dst + static_cast<size_t>(r) * dst_row, cols, tmp.data());
        }
    };
    const int64_t n_elements = rows * cols;
    const int64_t n_threads = std::clamp<int64_t>(
        std::min<int64_t>(std::thread::hardware_concurrency(), n_elements >> 20), 1, 16);
    if (n_threads == 1 || from == p.to) {
        work(0, rows);
        return;
    }
    std::vector<std::thread> threads;
    for (int64_t t = 0; t < n_threads; ++t) {
        threads.emplace_back(work, rows * t / n_threads, rows * (t + 1) / n_threads);
    }
    for (auto& t : threads) t.join();
}

DType output_dtype(FileType t) {
    switch (t) {
        case FileType::F32: return DType::F32;
        case FileType::F16: return DType::F16;
        case FileType::BF16: return DType::BF16;
        default:
            throw Error("output type " + std::string(file_type_name(t)) +
                        ": expected F32, F16 or BF16 (quantize the result with llamux quantize)");
    }
}

// The safetensors files of the checkpoint, as llama.cpp lists them: model*.safetensors, sorted.
std::vector<SafetensorsFile> open_parts(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("model", 0) == 0 && n.size() > 12 &&
            n.compare(n.size() - 12, 12, ".safetensors") == 0) {
            names.push_back(n);
        }
    }
    if (names.empty()) {
        throw Error(dir.string() + ": no model*.safetensors files (expected model.safetensors or " +
                    "model-00001-of-0000N.safetensors; PyTorch .bin checkpoints are not supported)");
    }
    std::sort(names.begin(), names.end());
    std::vector<SafetensorsFile> parts;
    for (const auto& n : names) parts.push_back(SafetensorsFile::open((dir / n).string()));
    return parts;
}

// model.safetensors.index.json's weight_map: every tensor it names must be in its file.
void check_index(const fs::path& dir, const std::vector<SafetensorsFile>& parts) {
    const fs::path index = dir / "model.safetensors.index.json";
    if (!fs::is_regular_file(index)) return;
    const nlohmann::json j = hf::read_json_file(index);
    const auto map = j.is_object() ? j.find("weight_map") : j.end();
    if (map == j.end() || !map->is_object()) throw Error(index.string() + ": missing weight_map object");
    for (const auto& [name, file] : map->items()) {
        const std::string f = file.is_string() ? file.get<std::string>() : "";
        const auto part = std::find_if(parts.begin(), parts.end(), [&](const SafetensorsFile& p) {
            return fs::path(p.path()).filename() == f;
        });
        if (part == parts.end()) {
            throw Error(index.string() + ": tensor " + name + " is in " + f +
                        ", which is not in " + dir.string());
        }
        if (!part->find(name)) {
            throw Error(index.string() + ": tensor " + name + " missing from " + part->path());
        }
    }
}

std::vector<Plan> plan_tensors(const std::vector<SafetensorsFile>& parts, const hf::Config& c,
                               DType out) {
    std::vector<Plan> plans;
    std::map<std::string, std::string> seen;  // GGUF name -> file
    for (const SafetensorsFile& part : parts) {
        for (const SafetensorsTensor& t : part.tensors()) {
            if (is_ignored(t.name)) continue;
            const auto m = map_tensor_name(t.name, c.n_layer);
            if (!m) {
                throw Error(part.path() + ": tensor " + t.name + ": not a Llama tensor of a " +
                            std::to_string(c.n_layer) + "-layer model (cannot map it to GGUF)");
            }
            if (const auto [it, fresh] = seen.emplace(m->gguf_name, part.path()); !fresh) {
                throw Error(part.path() + ": tensor " + t.name + " is also in " + it->second);
            }
            if (!t.dtype) {
                throw Error(part.path() + ": tensor " + t.name + ": dtype " + t.dtype_name +
                            " is not supported (expected F32, F16 or BF16)");
            }
            const std::vector<int64_t> want = expected_shape(m->role, c);
            if (t.shape != want) {
                throw Error(part.path() + ": tensor " + t.name + ": expected shape " +
                            shape_text(want) + " from config.json, file has " + shape_text(t.shape));
            }
            Plan p;
            p.name = m->gguf_name;
            p.src = &t;
            // llama.cpp keeps 1-D tensors and norms in F32.
            p.to = t.shape.size() <= 1 || p.name.ends_with("_norm.weight") ? DType::F32 : out;
            p.ne.assign(t.shape.rbegin(), t.shape.rend());
            if (m->role == Role::Q) p.permute_heads = c.n_head;
            if (m->role == Role::K) p.permute_heads = c.n_head_kv;
            plans.push_back(std::move(p));
        }
    }
    // Every tensor the model needs.
    auto require = [&](const std::string& gguf, const std::string& hf_name) {
        if (!seen.count(gguf)) {
            throw Error("tensor " + hf_name + ": missing from the safetensors files of " +
                        fs::path(parts.front().path()).parent_path().string());
        }
    };
    require("token_embd.weight", "model.embed_tokens.weight");
    require("output_norm.weight", "model.norm.weight");
    if (!c.tie_embeddings) require("output.weight", "lm_head.weight (tie_word_embeddings is false)");
    for (int64_t l = 0; l < c.n_layer; ++l) {
        for (const LayerTensor& t : kLayerTensors) {
            const std::string n = std::to_string(l);
            require("blk." + n + "." + t.gguf_suffix, "model.layers." + n + "." + t.hf_suffix);
        }
    }
    return plans;
}

// llama.cpp's size label: "6.7B", "260K".
std::string size_label(uint64_t n_params) {
    const double n = static_cast<double>(n_params);
    double scaled = n * 1e-3;
    const char* suffix = "K";
    if (n > 1e12) {
        scaled = n * 1e-12, suffix = "T";
    } else if (n > 1e9) {
        scaled = n * 1e-9, suffix = "B";
    } else if (n > 1e6) {
        scaled = n * 1e-6, suffix = "M";
    }
    std::string digits = std::to_string(static_cast<int64_t>(std::nearbyint(scaled)));
    digits.erase(0, digits.find_first_not_of('0') == std::string::npos ? digits.size()
                                                                         : digits.find_first_not_of('0'));
    const int fix = std::max(2 - static_cast<int>(digits.size()), 0);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%s", fix, scaled, suffix);
    return buf;
}

void write_hparams(GgufWriter& w, const hf::Config& c, FileType type) {
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    w.set_uint32("llama.block_count", u32(c.n_layer));
    if (c.n_ctx) w.set_uint32("llama.context_length", u32(*c.n_ctx));
    w.set_uint32("llama.embedding_length", u32(c.n_embd));
    w.set_uint32("llama.feed_forward_length", u32(c.n_ff));
    w.set_uint32("llama.attention.head_count", u32(c.n_head));
    if (c.n_head_kv_key) w.set_uint32("llama.attention.head_count_kv", u32(*c.n_head_kv_key));
    if (c.rope_theta) w.set_float32("llama.rope.freq_base", static_cast<float>(*c.rope_theta));
    w.set_float32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
    if (c.head_dim) {
        w.set_uint32("llama.attention.key_length", u32(*c.head_dim));
        w.set_uint32("llama.attention.value_length", u32(*c.head_dim));
    }
    w.set_uint32("general.file_type", static_cast<uint32_t>(type));
    w.set_uint32("llama.vocab_size", u32(c.n_vocab));
    w.set_uint32("llama.rope.dimension_count", u32(c.n_rot()));
    if (c.rope_linear_scale) {
        w.set_string("llama.rope.scaling.type", "linear");
        w.set_float32("llama.rope.scaling.factor", static_cast<float>(*c.rope_linear_scale));
    }
}

}  // namespace

ConvertSummary convert_hf_llama(const ConvertOptions& options,
                                const std::function<void(const ConvertTensorEvent&)>& on_tensor) {
    const DType out = output_dtype(options.type);
    const fs::path dir = options.input_dir;
    if (!fs::is_directory(dir)) throw Error(options.input_dir + ": no such directory");
    if (options.output_path.empty()) throw Error("output path: expected a file name, got none");

    // Everything is read and checked before the output is created.
    const hf::Config config = hf::read_config(dir);
    const std::vector<SafetensorsFile> parts = open_parts(dir);
    check_index(dir, parts);
    const std::vector<Plan> plans = plan_tensors(parts, config, out);
    const hf::Vocab vocab = hf::read_vocab(dir, config);

    ConvertSummary summary;
    summary.n_tensors = plans.size();
    summary.n_vocab = config.n_vocab;
    for (const Plan& p : plans) {
        int64_t n = 1;
        for (int64_t d : p.ne) n *= d;
        summary.n_params += static_cast<uint64_t>(n);
        summary.bytes_in += p.src->n_bytes;
    }
    std::string name = options.name;
    if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();

    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.type", "model");
    w.set_string("general.name", name);
    w.set_string("general.size_label", size_label(summary.n_params));
    write_hparams(w, config, options.type);
    hf::write_vocab(w, vocab);
    w.set_uint32("general.quantization_version", 2);

    for (size_t i = 0; i < plans.size(); ++i) {
        const Plan& p = plans[i];
        w.add_tensor_fill(p.name, p.to, p.ne, [&, i](uint8_t* dst, size_t) {
            if (on_tensor) {
                on_tensor(ConvertTensorEvent{i, plans.size(), p.name, p.src->name, p.ne,
                                             *p.src->dtype, p.to});
            }
            fill_tensor(p, dst);
        });
    }
    summary.bytes_out = w.layout().file_size;
    w.write(options.output_path);
    logger("convert")->info("{}: {} tensors, {} parameters, vocab {}", options.output_path,
                            plans.size(), summary.n_params, config.n_vocab);
    return summary;
}

}  // namespace llamux
