// config.json of a Hugging Face Llama checkpoint (see hf_convert_internal.hpp).
#include <fstream>
#include <iterator>

#include "hf_convert_internal.hpp"
#include "llamux/error.hpp"

namespace llamux::hf {
namespace {

namespace fs = std::filesystem;

std::string json_kind(const nlohmann::json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "a boolean";
    if (v.is_number_integer()) return "an integer";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_array()) return "an array";
    return "an object";
}

class ConfigReader {
public:
    ConfigReader(const nlohmann::json& json, std::string file) : json_(json), file_(std::move(file)) {}

    const nlohmann::json* find(const std::string& key) const {
        const auto it = json_.find(key);
        return it == json_.end() || it->is_null() ? nullptr : &*it;
    }
    std::optional<int64_t> opt_int(const std::string& key, int64_t min_value) const {
        const nlohmann::json* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number_integer()) fail(key, "an integer", json_kind(*v));
        const int64_t x = v->get<int64_t>();
        if (x < min_value || x > (int64_t{1} << 31) - 1) {
            fail(key, "an integer from " + std::to_string(min_value) + " to 2147483647",
                 std::to_string(x));
        }
        return x;
    }
    int64_t int_key(const std::string& key, int64_t min_value) const {
        if (const auto v = opt_int(key, min_value)) return *v;
        throw Error(file_ + ": missing key " + key + " (expected an integer)");
    }
    std::optional<double> opt_float(const std::string& key) const {
        const nlohmann::json* v = find(key);
        if (!v) return std::nullopt;
        if (!v->is_number()) fail(key, "a number", json_kind(*v));
        return v->get<double>();
    }
    double float_key(const std::string& key) const {
        if (const auto v = opt_float(key)) return *v;
        throw Error(file_ + ": missing key " + key + " (expected a number)");
    }
    [[noreturn]] void fail(const std::string& key, const std::string& expected,
                           const std::string& found) const {
        throw Error(file_ + ": key " + key + ": expected " + expected + ", found " + found);
    }

private:
    const nlohmann::json& json_;
    std::string file_;
};

// Architectures llama.cpp converts with its LlamaModel class, less Mixtral (experts).
bool is_llama_architecture(const std::string& a) {
    return a == "LlamaForCausalLM" || a == "LLaMAForCausalLM" || a == "MistralForCausalLM";
}

}  // namespace

nlohmann::json read_json_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) throw Error(path.string() + ": not valid JSON");
    return json;
}

Config read_config(const fs::path& dir) {
    const fs::path path = dir / "config.json";
    if (!fs::is_regular_file(path)) {
        throw Error(path.string() + ": no such file (expected a Hugging Face model directory)");
    }
    Config c;
    c.json = read_json_file(path);
    const std::string file = path.string();
    if (!c.json.is_object()) throw Error(file + ": expected a JSON object");
    const ConfigReader r(c.json, file);

    const nlohmann::json* archs = r.find("architectures");
    if (!archs) throw Error(file + ": missing key architectures (expected [\"LlamaForCausalLM\"])");
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
        r.fail("architectures", "an array of names", json_kind(*archs));
    }
    c.architecture = (*archs)[0].get<std::string>();
    if (!is_llama_architecture(c.architecture)) {
        throw Error(file + ": architecture " + c.architecture +
                    " is not supported (expected LlamaForCausalLM)");
    }

    c.n_embd = r.int_key("hidden_size", 1);
    c.n_ff = r.int_key("intermediate_size", 1);
    c.n_layer = r.int_key("num_hidden_layers", 1);
    c.n_head = r.int_key("num_attention_heads", 1);
    c.n_head_kv_key = r.opt_int("num_key_value_heads", 1);
    c.n_head_kv = c.n_head_kv_key.value_or(c.n_head);
    c.n_vocab = r.int_key("vocab_size", 1);
    c.n_ctx = r.opt_int("max_position_embeddings", 1);
    c.rms_eps = r.float_key("rms_norm_eps");
    c.rope_theta = r.opt_float("rope_theta");
    c.head_dim = r.opt_int("head_dim", 1);
    if (const nlohmann::json* tie = r.find("tie_word_embeddings")) {
        if (!tie->is_boolean()) r.fail("tie_word_embeddings", "a boolean", json_kind(*tie));
        c.tie_embeddings = tie->get<bool>();
    }

    if (c.n_embd % c.n_head != 0) {
        r.fail("hidden_size", "a multiple of num_attention_heads (" + std::to_string(c.n_head) + ")",
               std::to_string(c.n_embd));
    }
    if (c.n_head % c.n_head_kv != 0) {
        r.fail("num_key_value_heads", "a divisor of num_attention_heads (" +
               std::to_string(c.n_head) + ")", std::to_string(c.n_head_kv));
    }
    if (c.head_dim && *c.head_dim != c.n_embd / c.n_head) {
        r.fail("head_dim", std::to_string(c.n_embd / c.n_head) +
               " (hidden_size / num_attention_heads; other head sizes are not supported)",
               std::to_string(*c.head_dim));
    }
    if ((c.n_embd / c.n_head) % 2 != 0) {
        r.fail("hidden_size", "an even head size for RoPE", std::to_string(c.n_embd / c.n_head) +
               " per head");
    }

    // llama.cpp writes linear scaling only; anything else would run with the wrong positions.
    if (const nlohmann::json* rs = r.find("rope_scaling")) {
        if (!rs->is_object()) r.fail("rope_scaling", "an object", json_kind(*rs));
        const auto type = rs->find("type") != rs->end() ? rs->find("type") : rs->find("rope_type");
        const std::string t = type != rs->end() && type->is_string() ? type->get<std::string>() : "";
        if (t != "linear") {
            r.fail("rope_scaling.type", "linear (the only scaling converted)",
                   t.empty() ? std::string("none") : t);
        }
        const auto factor = rs->find("factor");
        if (factor == rs->end() || !factor->is_number() || factor->get<double>() <= 0.0) {
            r.fail("rope_scaling.factor", "a positive number",
                   factor == rs->end() ? std::string("none") : json_kind(*factor));
        }
        c.rope_linear_scale = factor->get<double>();
    }
    return c;
}

}  // namespace llamux::hf
