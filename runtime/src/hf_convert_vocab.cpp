// The vocabulary of a Hugging Face Llama checkpoint, as llama.cpp's converter builds it from
// tokenizer.model (_create_vocab_sentencepiece) and finds the special tokens (SpecialVocab).
#include <cctype>
#include <set>

#include "hf_convert_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/log.hpp"
#include "sentencepiece_model.hpp"

namespace llamux::hf {
namespace {

namespace fs = std::filesystem;

// GGUF token types (llama.cpp's LLAMA_TOKEN_TYPE_*).
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5,
                  kByte = 6;

// llama.cpp's converter asks SentencePiece IsUnknown, IsControl, IsUnused, IsByte in that
// order; every other piece (user-defined ones included) is written as NORMAL.
int32_t gguf_token_type(SentencePieceType t) {
    switch (t) {
        case SentencePieceType::UNKNOWN: return kUnknown;
        case SentencePieceType::CONTROL: return kControl;
        case SentencePieceType::UNUSED: return kUnused;
        case SentencePieceType::BYTE: return kByte;
        default: return kNormal;
    }
}

// Added tokens that llama.cpp treats as control tokens though not marked special.
bool looks_special(const std::string& t) {
    auto starts = [&](const char* p) { return t.rfind(p, 0) == 0; };
    auto ends = [&](const std::string& s) {
        return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0;
    };
    return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
           (starts("<|") && ends("|>")) || (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) ||
           (starts("<unused") && ends(">"));
}

// obj[key] when obj is an object holding a string there; "" otherwise (never throws).
std::string string_field(const nlohmann::json& obj, const char* key) {
    if (!obj.is_object()) return "";
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

void apply_added_tokens(const fs::path& dir, int64_t n_vocab, Vocab& v) {
    auto log = logger("convert");
    const fs::path added = dir / "added_tokens.json";
    if (fs::is_regular_file(added)) {
        const nlohmann::json j = read_json_file(added);
        if (!j.is_object()) throw Error(added.string() + ": expected a JSON object");
        for (const auto& [text, id] : j.items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0) {
                throw Error(added.string() + ": token " + text + ": expected a non-negative id");
            }
            const int64_t tid = id.get<int64_t>();
            if (tid >= n_vocab) {
                log->warn("{}: ignoring token {} (id {} >= vocab_size {})", added.string(), text,
                          tid, n_vocab);
                continue;
            }
            const auto i = static_cast<size_t>(tid);
            v.tokens[i] = text;
            v.scores[i] = -1000.0f;
            v.types[i] = kUserDefined;
        }
    }
    const fs::path tc = dir / "tokenizer_config.json";
    if (!fs::is_regular_file(tc)) return;
    const nlohmann::json j = read_json_file(tc);
    const auto decoder = j.is_object() ? j.find("added_tokens_decoder") : j.end();
    if (decoder == j.end() || !decoder->is_object()) return;
    for (const auto& [key, data] : decoder->items()) {
        int64_t tid = -1;
        try {
            size_t used = 0;
            tid = std::stoll(key, &used);
            if (used != key.size()) tid = -1;
        } catch (const std::exception&) {
        }
        const auto content = data.is_object() ? data.find("content") : data.end();
        if (tid < 0 || content == data.end() || !content->is_string()) {
            throw Error(tc.string() + ": added_tokens_decoder." + key +
                        ": expected a token id with a content string");
        }
        if (tid >= n_vocab) {
            log->warn("{}: ignoring added token {} (id >= vocab_size {})", tc.string(), tid, n_vocab);
            continue;
        }
        std::string token = content->get<std::string>();
        const auto special = data.find("special");
        const auto i = static_cast<size_t>(tid);
        if ((special != data.end() && special->is_boolean() && special->get<bool>()) ||
            looks_special(token)) {
            v.types[i] = kControl;
        } else {
            token = replace_all(token, "\xE2\x96\x81", " ");  // pre-normalised user spaces
            v.types[i] = kUserDefined;
        }
        v.scores[i] = -1000.0f;
        v.tokens[i] = token;
    }
}

// SpecialVocab: ids of bos/eos/unk/sep/pad/mask from tokenizer_config.json's *_token names
// (looked up in tokenizer.json's added_tokens, or in the vocabulary when there is no
// tokenizer.json) and from config.json's *_token_id; the first found wins.
void find_special_tokens(const fs::path& dir, const Config& config, Vocab& v) {
    static const std::pair<const char*, const char*> kinds[] = {
        {"bos", "tokenizer.ggml.bos_token_id"},  {"eos", "tokenizer.ggml.eos_token_id"},
        {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
        {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", ""},
        {"mask", "tokenizer.ggml.mask_token_id"},
    };
    auto log = logger("convert");
    std::set<std::string> found;
    auto set_id = [&](const std::string& kind, const char* key, const nlohmann::json& id) {
        if (!id.is_number_integer()) return;
        const int64_t tid = id.get<int64_t>();
        if (tid < 0) throw Error("special token " + kind + ": invalid id " + std::to_string(tid));
        if (tid >= config.n_vocab) {
            log->warn("special token {}: id {} out of range (vocab_size {}), skipped", kind, tid,
                      config.n_vocab);
            return;
        }
        if (!found.insert(kind).second) return;
        if (*key == '\0') {
            log->warn("special token {} (id {}): no GGUF key, skipped", kind, tid);
            return;
        }
        v.special_ids.emplace_back(key, static_cast<uint32_t>(tid));
    };

    const fs::path tc_path = dir / "tokenizer_config.json";
    if (fs::is_regular_file(tc_path)) {
        const nlohmann::json tc = read_json_file(tc_path);
        if (!tc.is_object()) throw Error(tc_path.string() + ": expected a JSON object");
        nlohmann::json added = nlohmann::json::array();
        const bool have_tokenizer_json = fs::is_regular_file(dir / "tokenizer.json");
        if (have_tokenizer_json) {
            const nlohmann::json tj = read_json_file(dir / "tokenizer.json");
            if (tj.is_object() && tj.contains("added_tokens") && tj["added_tokens"].is_array()) {
                added = tj["added_tokens"];
            }
        }
        if (const auto ct = tc.find("chat_template"); ct != tc.end()) {
            if (ct->is_string()) {
                v.chat_templates.emplace_back("tokenizer.chat_template", ct->get<std::string>());
            } else if (ct->is_array()) {
                std::set<std::string> names;
                std::string fallback;
                for (const auto& choice : *ct) {
                    if (!choice.is_object() || !choice.contains("template") ||
                        !choice["template"].is_string()) {
                        continue;
                    }
                    std::string name = string_field(choice, "name");
                    for (char& ch : name) {
                        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                    }
                    if (name.empty()) continue;
                    if (name == "default") {
                        fallback = choice["template"].get<std::string>();
                    } else if (names.insert(name).second) {
                        v.chat_templates.emplace_back("tokenizer.chat_template." + name,
                                                      choice["template"].get<std::string>());
                    }
                }
                v.chat_template_names.assign(names.begin(), names.end());
                if (!fallback.empty()) v.chat_templates.emplace_back("tokenizer.chat_template", fallback);
            } else if (!ct->is_null()) {
                log->warn("{}: chat_template is neither a string nor a list, ignored", tc_path.string());
            }
        }
        for (const auto& [kind, key] : kinds) {
            const std::string k = kind;
            if (const auto add = tc.find("add_" + k + "_token"); add != tc.end() && add->is_boolean()) {
                if (k == "bos" || k == "eos") {
                    v.add_special.emplace_back("tokenizer.ggml.add_" + k + "_token", add->get<bool>());
                }
            }
            const auto entry = tc.find(k + "_token");
            if (entry == tc.end()) continue;
            std::string content;
            if (entry->is_string()) {
                content = entry->get<std::string>();
            } else if (entry->is_object() && entry->contains("content") &&
                       (*entry)["content"].is_string()) {
                content = (*entry)["content"].get<std::string>();
            } else {
                continue;
            }
            if (content.empty()) continue;
            if (have_tokenizer_json) {
                for (const auto& atok : added) {
                    if (string_field(atok, "content") == content) {
                        set_id(k, key, atok.contains("id") ? atok["id"] : nlohmann::json());
                        break;
                    }
                }
            } else {
                for (size_t i = 0; i < v.tokens.size(); ++i) {
                    if (v.tokens[i] == content) {
                        set_id(k, key, nlohmann::json(static_cast<int64_t>(i)));
                        break;
                    }
                }
            }
        }
        if (const auto asp = tc.find("add_prefix_space"); asp != tc.end() && asp->is_boolean()) {
            v.add_space_prefix = asp->get<bool>();
        }
    }
    for (const auto& [kind, key] : kinds) {
        if (const auto id = config.json.find(std::string(kind) + "_token_id"); id != config.json.end()) {
            set_id(kind, key, *id);
        }
    }
}

}  // namespace

Vocab read_vocab(const fs::path& dir, const Config& config) {
    const fs::path path = dir / "tokenizer.model";
    if (!fs::is_regular_file(path)) {
        throw Error(path.string() + ": no such file (the SentencePiece tokenizer is required)");
    }
    const std::vector<SentencePiece> pieces = read_sentencepiece_model(path.string());
    if (static_cast<int64_t>(pieces.size()) > config.n_vocab) {
        throw Error(path.string() + ": " + std::to_string(pieces.size()) +
                    " pieces, but config.json vocab_size (the embedding rows) is " +
                    std::to_string(config.n_vocab));
    }
    Vocab v;
    const auto n = static_cast<size_t>(config.n_vocab);
    v.tokens.resize(n);
    v.scores.assign(n, -10000.0f);
    v.types.assign(n, kUnused);
    for (size_t i = 0; i < n; ++i) {
        if (i < pieces.size()) {
            v.tokens[i] = pieces[i].piece;
            v.scores[i] = pieces[i].score;
            v.types[i] = gguf_token_type(pieces[i].type);
        } else {
            v.tokens[i] = "[PAD" + std::to_string(i) + "]";
        }
    }
    apply_added_tokens(dir, config.n_vocab, v);
    find_special_tokens(dir, config, v);
    return v;
}

void write_vocab(GgufWriter& w, const Vocab& v) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string("tokenizer.ggml.pre", "default");
    w.set_string_array("tokenizer.ggml.tokens", v.tokens);
    w.set_float32_array("tokenizer.ggml.scores", v.scores);
    w.set_int32_array("tokenizer.ggml.token_type", v.types);
    for (const auto& [key, id] : v.special_ids) w.set_uint32(key, id);
    for (const auto& [key, value] : v.add_special) w.set_bool(key, value);
    // Named templates, their list, then the default one, as llama.cpp writes them.
    const std::string default_key = "tokenizer.chat_template";
    for (const auto& [key, text] : v.chat_templates) {
        if (key != default_key) w.set_string(key, text);
    }
    if (!v.chat_template_names.empty()) {
        w.set_string_array("tokenizer.chat_templates", v.chat_template_names);
    }
    for (const auto& [key, text] : v.chat_templates) {
        if (key == default_key) w.set_string(key, text);
    }
    if (v.add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", *v.add_space_prefix);
}

}  // namespace llamux::hf
