// llamux info MODEL [--json]: what a GGUF file holds. Metadata (arrays summarised), the
// Llama hyperparameters (with the defaults a loader applies shown as such), the tensors and
// their total size. --json prints the same as one JSON object.
#include <charconv>
#include <cmath>
#include <limits>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/gguf.hpp"

namespace llamux::tools {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kArrayItems = 8;        // array items shown
constexpr size_t kMaxTextValue = 120;    // longer values are cut in the text form

struct InfoOptions {
    std::string model;
    bool json = false;
};

// One hyperparameter: its value (absent when missing) and where it came from.
struct HParam {
    std::string name;  // snake_case, the JSON key
    std::string label;
    std::string source;  // "" (from the file), "default", "token list length", "missing", ...
    bool is_float = false;
    std::optional<int64_t> ivalue;  // integer hyperparameters
    std::optional<double> fvalue;   // float ones
    bool present() const { return is_float ? fvalue.has_value() : ivalue.has_value(); }
};

// A float32 value as the shortest decimal that reads back as the same float.
double float32_value(double v) {
    if (std::isfinite(v) && std::fabs(v) > double(std::numeric_limits<float>::max())) return v;
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v));
    double out = v;
    std::from_chars(buf, r.ptr, out);
    return out;
}

std::string format_hparam(const HParam& h) {
    if (!h.present()) return "-";
    if (!h.is_float) return std::to_string(*h.ivalue);
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof(buf), float32_value(*h.fvalue));
    return std::string(buf, r.ptr);
}

std::string human_bytes(uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

std::string shape_text(const GgufTensorInfo& t) {
    std::string s;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
        if (d) s += " x ";
        s += std::to_string(t.ne[d]);
    }
    return s;
}

Json value_json(const GgufValue& v) {
    if (const auto* u = std::get_if<uint64_t>(&v.value)) return *u;
    if (const auto* i = std::get_if<int64_t>(&v.value)) return *i;
    if (const auto* d = std::get_if<double>(&v.value)) {
        return v.type == GgufType::FLOAT32 ? float32_value(*d) : *d;
    }
    if (const auto* b = std::get_if<bool>(&v.value)) return *b;
    if (const auto* s = v.as_string()) return *s;
    Json j = Json::object();
    j["type"] = "array";
    if (const GgufArray* a = v.as_array()) {
        j["elem_type"] = std::string(gguf_type_name(a->elem_type));
        j["length"] = a->items.size();
        Json items = Json::array();
        for (size_t k = 0; k < a->items.size() && k < kArrayItems; ++k) {
            items.push_back(value_json(a->items[k]));
        }
        j["items"] = std::move(items);
    }
    return j;
}

// Reads an integer or float key without letting a badly typed value stop the report.
HParam read_hparam(const GgufFile& f, const std::string& key, std::string name, std::string label,
                   bool is_float) {
    HParam h{std::move(name), std::move(label), "", is_float, std::nullopt, std::nullopt};
    try {
        if (is_float) {
            h.fvalue = f.get_float(key);
        } else {
            h.ivalue = f.get_int(key);
        }
        if (!h.present()) h.source = "missing";
    } catch (const Error&) {
        const GgufValue* v = f.find(key);
        h.source = "invalid: " + std::string(gguf_type_name(v->type));
    }
    return h;
}

std::vector<HParam> llama_hparams(const GgufFile& f, std::string& arch) {
    arch = "llama";
    try {
        if (auto a = f.get_string("general.architecture")) arch = *a;
    } catch (const Error&) {
    }
    const std::string p = arch + ".";
    std::vector<HParam> h;
    h.push_back(read_hparam(f, p + "block_count", "block_count", "block count", false));
    h.push_back(read_hparam(f, p + "embedding_length", "embedding_length", "embedding length", false));
    h.push_back(read_hparam(f, p + "feed_forward_length", "feed_forward_length", "feed forward length", false));
    h.push_back(read_hparam(f, p + "attention.head_count", "head_count", "heads", false));
    h.push_back(read_hparam(f, p + "attention.head_count_kv", "head_count_kv", "kv heads", false));
    h.push_back(read_hparam(f, p + "rope.dimension_count", "rope_dimension_count", "rope dimensions", false));
    h.push_back(read_hparam(f, p + "context_length", "context_length", "context length", false));
    h.push_back(read_hparam(f, p + "attention.layer_norm_rms_epsilon", "rms_epsilon", "rms norm epsilon", true));
    h.push_back(read_hparam(f, p + "rope.freq_base", "rope_freq_base", "rope freq base", true));
    h.push_back(read_hparam(f, p + "vocab_size", "vocab_size", "vocab size", false));

    const auto& embd = h[1];
    const auto& heads = h[3];
    auto& kv_heads = h[4];
    auto& rope_dims = h[5];
    auto& eps = h[7];
    auto& rope_base = h[8];
    auto& vocab = h[9];
    if (kv_heads.source == "missing" && heads.ivalue) {
        kv_heads.ivalue = heads.ivalue;
        kv_heads.source = "default: heads";
    }
    if (rope_dims.source == "missing" && embd.ivalue && heads.ivalue && *heads.ivalue > 0) {
        rope_dims.ivalue = *embd.ivalue / *heads.ivalue;
        rope_dims.source = "default: embedding length / heads";
    }
    if (eps.source == "missing") {
        eps.fvalue = float32_value(1e-5);
        eps.source = "default";
    }
    if (rope_base.source == "missing") {
        rope_base.fvalue = 10000.0;
        rope_base.source = "default";
    }
    if (vocab.source == "missing") {
        if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) {
            if (const GgufArray* a = tokens->as_array()) {
                vocab.ivalue = static_cast<int64_t>(a->items.size());
                vocab.source = "token list length";
            }
        }
    }
    return h;
}

std::string cut(std::string s) {
    if (s.size() > kMaxTextValue) {
        const size_t n = s.size();
        s.resize(kMaxTextValue);
        s += "... (" + std::to_string(n) + " chars)";
    }
    return s;
}

std::string pad(const std::string& s, size_t width) {
    return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

void print_text(const GgufFile& f, const std::string& arch, const std::vector<HParam>& hp,
                uint64_t total) {
    const bool default_alignment = f.find("general.alignment") == nullptr;
    std::printf("file         %s\n", f.path().c_str());
    std::printf("version      %u\n", f.version());
    std::printf("file size    %llu bytes (%s)\n", static_cast<unsigned long long>(f.file_size()),
                human_bytes(f.file_size()).c_str());
    std::printf("alignment    %llu%s\n", static_cast<unsigned long long>(f.alignment()),
                default_alignment ? " (default)" : "");
    std::printf("data offset  %llu\n", static_cast<unsigned long long>(f.data_offset()));
    std::printf("metadata     %zu keys\n", f.metadata().size());
    std::printf("tensors      %zu\n", f.tensors().size());

    size_t key_width = 4;
    for (const auto& [key, value] : f.metadata()) key_width = std::max(key_width, key.size());
    std::printf("\nMetadata:\n");
    for (const auto& [key, value] : f.metadata()) {
        std::printf("  %s%s%s\n", pad(key, key_width + 2).c_str(),
                    pad(std::string(gguf_type_name(value.type)), 9).c_str(),
                    cut(value.to_display(kArrayItems)).c_str());
    }

    std::printf("\nHyperparameters (%s):\n", arch.c_str());
    for (const HParam& h : hp) {
        std::string v = format_hparam(h);
        if (!h.source.empty()) v += " (" + h.source + ")";
        std::printf("  %s%s\n", pad(h.label, 22).c_str(), v.c_str());
    }

    std::printf("\nTensors:\n");
    size_t name_w = 4, type_w = 4, shape_w = 5;
    for (const auto& t : f.tensors()) {
        name_w = std::max(name_w, t.name.size());
        type_w = std::max(type_w, dtype_name(t.dtype).size());
        shape_w = std::max(shape_w, shape_text(t).size());
    }
    std::printf("  %s%s%s%s\n", pad("name", name_w + 2).c_str(), pad("type", type_w + 2).c_str(),
                pad("shape", shape_w + 2).c_str(), "bytes");
    for (const auto& t : f.tensors()) {
        std::printf("  %s%s%s%zu\n", pad(t.name, name_w + 2).c_str(),
                    pad(std::string(dtype_name(t.dtype)), type_w + 2).c_str(),
                    pad(shape_text(t), shape_w + 2).c_str(), t.n_bytes);
    }
    std::printf("\nTotal: %zu tensors, %llu bytes (%s)\n", f.tensors().size(),
                static_cast<unsigned long long>(total), human_bytes(total).c_str());
}

void print_json(const GgufFile& f, const std::string& arch, const std::vector<HParam>& hp,
                uint64_t total) {
    Json j = Json::object();
    j["file"] = f.path();
    j["version"] = f.version();
    j["file_size"] = f.file_size();
    j["alignment"] = f.alignment();
    j["data_offset"] = f.data_offset();

    Json meta = Json::object();
    for (const auto& [key, value] : f.metadata()) {
        Json entry = value_json(value);
        if (value.type != GgufType::ARRAY) {
            entry = Json{{"type", std::string(gguf_type_name(value.type))}, {"value", entry}};
        }
        meta[key] = std::move(entry);
    }
    j["metadata"] = std::move(meta);

    Json hparams = Json::object();
    Json sources = Json::object();
    hparams["architecture"] = arch;
    for (const HParam& h : hp) {
        if (!h.present()) {
            hparams[h.name] = nullptr;
        } else if (h.is_float) {
            hparams[h.name] = float32_value(*h.fvalue);
        } else {
            hparams[h.name] = *h.ivalue;
        }
        if (!h.source.empty()) sources[h.name] = h.source;
    }
    j["hparams"] = std::move(hparams);
    j["hparam_sources"] = std::move(sources);

    Json tensors = Json::array();
    for (const auto& t : f.tensors()) {
        Json shape = Json::array();
        for (uint32_t d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
        tensors.push_back(Json{{"name", t.name},
                               {"type", std::string(dtype_name(t.dtype))},
                               {"shape", std::move(shape)},
                               {"offset", t.offset},
                               {"bytes", t.n_bytes}});
    }
    j["tensors"] = std::move(tensors);
    j["n_tensors"] = f.tensors().size();
    j["total_bytes"] = total;
    // Token texts need not be valid UTF-8: replace bad bytes rather than fail.
    const std::string out = j.dump(2, ' ', false, Json::error_handler_t::replace);
    std::printf("%s\n", out.c_str());
}

int run_info(const InfoOptions& opts) {
    const GgufFile f = GgufFile::open(opts.model);
    std::string arch;
    const std::vector<HParam> hp = llama_hparams(f, arch);
    uint64_t total = 0;
    for (const auto& t : f.tensors()) total += t.n_bytes;
    if (opts.json) {
        print_json(f, arch, hp, total);
    } else {
        print_text(f, arch, hp, total);
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

void add_info_command(CLI::App& root, CommandFn& run) {
    auto opts = std::make_shared<InfoOptions>();
    auto* cmd = root.add_subcommand(
        "info", "Show a GGUF file: metadata, Llama hyperparameters, tensors and total size");
    cmd->add_option("model", opts->model, "GGUF model file")->required();
    cmd->add_flag("--json", opts->json, "Print one JSON object instead of text");
    cmd->callback([&run, opts] { run = [opts] { return run_info(*opts); }; });
}

}  // namespace llamux::tools
