// The Llama SentencePiece tokenizer: vocabulary loading, encoding and decoding.
// The streaming decoder is in tokenizer_stream.cpp.
#include "llamux/tokenizer.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <queue>
#include <string_view>
#include <utility>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"

namespace llamux {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Length of the UTF-8 character that starts with `lead`, from its top four bits; stray
// continuation bytes and invalid leads count as one byte, as llama.cpp splits them.
size_t utf8_char_len(char lead) {
    static constexpr uint8_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[static_cast<uint8_t>(lead) >> 4];
}

// ' ' → ▁, the rest unchanged.
std::string escape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    for (char c : text) {
        if (c == ' ') {
            out += kSpaceMark;
        } else {
            out += c;
        }
    }
    return out;
}

// ▁ → ' ', the rest unchanged.
std::string unescape_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        if (text.compare(i, kSpaceMark.size(), kSpaceMark) == 0) {
            out += ' ';
            i += kSpaceMark.size();
        } else {
            out += text[i++];
        }
    }
    return out;
}

// "<0xNN>" (either case of hex digit) → NN; -1 for any other text.
int parse_byte_piece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    int value = 0;
    for (size_t i = 3; i < 5; ++i) {
        const char c = piece[i];
        int digit;
        if (c >= '0' && c <= '9') {
            digit = c - '0';
        } else if (c >= 'A' && c <= 'F') {
            digit = c - 'A' + 10;
        } else if (c >= 'a' && c <= 'f') {
            digit = c - 'a' + 10;
        } else {
            return -1;
        }
        value = value * 16 + digit;
    }
    return value;
}

std::string byte_piece(uint8_t byte) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(byte));
    return buf;
}

bool is_special(TokenType t) {
    return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
}

// One symbol of the merge list: a byte range of the text, linked to its neighbours.
// n == 0 marks a symbol merged into its left neighbour.
struct Symbol {
    int32_t prev = -1;
    int32_t next = -1;
    size_t start = 0;
    size_t n = 0;
};

// A candidate merge of two adjacent symbols. `size` is the byte length of the merged text
// when the candidate was made; a later merge of either side makes the candidate stale.
struct Bigram {
    int32_t left = -1;
    int32_t right = -1;
    float score = 0.0f;
    size_t size = 0;
};

// Highest score first; among equal scores, the leftmost pair first.
struct BigramOrder {
    bool operator()(const Bigram& a, const Bigram& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

// A part of the input: raw text (token < 0) or one special token found in it.
struct Fragment {
    int32_t token = -1;
    std::string_view text;
};

const GgufArray* require_array(const GgufFile& file, const std::string& key, GgufType type,
                               bool required) {
    const GgufArray* arr = file.get_array(key, type);
    if (!arr) {
        if (required) throw Error(key + ": key missing (" + file.path() + ")");
        return nullptr;
    }
    if (arr->elem_type != type) {
        throw Error(key + ": expected an array of " + std::string(gguf_type_name(type)) +
                    ", file has an array of " + std::string(gguf_type_name(arr->elem_type)) +
                    " (" + file.path() + ")");
    }
    return arr;
}

void check_count(const GgufFile& file, const std::string& key, size_t expected, size_t found) {
    if (expected != found) {
        throw Error(key + ": expected " + std::to_string(expected) +
                    " entries (one per token), file has " + std::to_string(found) + " (" +
                    file.path() + ")");
    }
}

int32_t special_id(const GgufFile& file, const std::string& key, int32_t fallback,
                   size_t n_vocab) {
    const std::optional<int64_t> v = file.get_int(key);
    if (!v) return fallback;
    if (*v < 0 || *v >= static_cast<int64_t>(n_vocab)) {
        throw Error(key + ": expected a token id in [0, " + std::to_string(n_vocab) +
                    "), file has " + std::to_string(*v) + " (" + file.path() + ")");
    }
    return static_cast<int32_t>(*v);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& file) {
    if (const auto model = file.get_string("tokenizer.ggml.model"); model && *model != "llama") {
        throw Error("tokenizer.ggml.model: expected \"llama\" (SentencePiece), file has \"" +
                    *model + "\" (" + file.path() + ")");
    }
    const std::string tokens_key = "tokenizer.ggml.tokens";
    const std::string scores_key = "tokenizer.ggml.scores";
    const std::string types_key = "tokenizer.ggml.token_type";

    const GgufArray* tokens = require_array(file, tokens_key, GgufType::STRING, true);
    const size_t n = tokens->items.size();
    if (n == 0) throw Error(tokens_key + ": expected at least one token, file has 0 (" +
                            file.path() + ")");
    std::vector<std::string> pieces;
    pieces.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string* s = tokens->items[i].as_string();
        if (!s) throw Error(tokens_key + "[" + std::to_string(i) + "]: expected a string (" +
                            file.path() + ")");
        pieces.push_back(*s);
    }

    std::vector<float> scores(n, 0.0f);
    if (const GgufArray* arr = require_array(file, scores_key, GgufType::FLOAT32, false)) {
        check_count(file, scores_key, n, arr->items.size());
        for (size_t i = 0; i < n; ++i) {
            const std::optional<double> v = arr->items[i].as_float();
            if (!v) throw Error(scores_key + "[" + std::to_string(i) + "]: expected a float (" +
                                file.path() + ")");
            scores[i] = static_cast<float>(*v);
        }
    }

    std::vector<TokenType> types(n, TokenType::Normal);
    if (const GgufArray* arr = require_array(file, types_key, GgufType::INT32, false)) {
        check_count(file, types_key, n, arr->items.size());
        for (size_t i = 0; i < n; ++i) {
            const std::optional<int64_t> v = arr->items[i].as_int();
            if (!v || *v < 0 || *v > static_cast<int64_t>(TokenType::Byte)) {
                throw Error(types_key + "[" + std::to_string(i) +
                            "]: expected a token type in [0, 6], file has " +
                            (v ? std::to_string(*v) : std::string("a non-integer")) + " (" +
                            file.path() + ")");
            }
            types[i] = static_cast<TokenType>(*v);
        }
    }

    const int32_t bos = special_id(file, "tokenizer.ggml.bos_token_id", 1, n);
    const int32_t eos = special_id(file, "tokenizer.ggml.eos_token_id", 2, n);
    const int32_t unk = special_id(file, "tokenizer.ggml.unknown_token_id", 0, n);
    const bool add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
    const bool add_space = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    return from_vocab(std::move(pieces), std::move(scores), std::move(types), bos, eos, unk,
                      add_bos, file.path(), add_space);
}

Tokenizer Tokenizer::from_vocab(std::vector<std::string> pieces, std::vector<float> scores,
                                std::vector<TokenType> types, int32_t bos, int32_t eos,
                                int32_t unk, bool add_bos, const std::string& source,
                                bool add_space_prefix) {
    const size_t n = pieces.size();
    if (n == 0) throw Error("vocabulary: expected at least one token, found 0 (" + source + ")");
    if (n > static_cast<size_t>(INT32_MAX)) {
        throw Error("vocabulary: expected at most 2^31-1 tokens, found " + std::to_string(n) +
                    " (" + source + ")");
    }
    if (scores.size() != n) {
        throw Error("scores: expected " + std::to_string(n) + " entries (one per token), found " +
                    std::to_string(scores.size()) + " (" + source + ")");
    }
    if (types.size() != n) {
        throw Error("token types: expected " + std::to_string(n) +
                    " entries (one per token), found " + std::to_string(types.size()) + " (" +
                    source + ")");
    }
    const std::pair<const char*, int32_t> ids[] = {{"bos", bos}, {"eos", eos}, {"unk", unk}};
    for (const auto& [name, id] : ids) {
        if (id < 0 || static_cast<size_t>(id) >= n) {
            throw Error(std::string(name) + " token id: expected one in [0, " +
                        std::to_string(n) + "), found " + std::to_string(id) + " (" + source +
                        ")");
        }
    }

    Tokenizer t;
    t.pieces_ = std::move(pieces);
    t.scores_ = std::move(scores);
    t.types_ = std::move(types);
    t.bos_ = bos;
    t.eos_ = eos;
    t.unk_ = unk;
    t.add_bos_ = add_bos;
    t.add_space_prefix_ = add_space_prefix;

    // As llama.cpp: a text that appears twice maps to its last id; empty texts are not indexed.
    t.index_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        if (!t.pieces_[i].empty()) t.index_[t.pieces_[i]] = static_cast<int32_t>(i);
    }
    for (int b = 0; b < 256; ++b) {
        const auto it = t.index_.find(byte_piece(static_cast<uint8_t>(b)));
        t.byte_ids_[static_cast<size_t>(b)] = it == t.index_.end() ? -1 : it->second;
    }
    for (size_t i = 0; i < n; ++i) {
        if (is_special(t.types_[i]) && !t.pieces_[i].empty()) {
            t.special_ids_.push_back(static_cast<int32_t>(i));
        }
    }
    std::stable_sort(t.special_ids_.begin(), t.special_ids_.end(), [&t](int32_t a, int32_t b) {
        return t.pieces_[static_cast<size_t>(a)].size() > t.pieces_[static_cast<size_t>(b)].size();
    });
    return t;
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab()) {
        throw Error("token id: expected one in [0, " + std::to_string(n_vocab()) + "), found " +
                    std::to_string(id));
    }
}

const std::string& Tokenizer::piece(int32_t id) const {
    check_id(id);
    return pieces_[static_cast<size_t>(id)];
}

TokenType Tokenizer::type(int32_t id) const {
    check_id(id);
    return types_[static_cast<size_t>(id)];
}

void Tokenizer::encode_fragment(std::string_view text, std::vector<int32_t>& out) const {
    // One symbol per UTF-8 character, linked in a list.
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t offset = 0; offset < text.size();) {
        Symbol s;
        s.start = offset;
        s.n = std::min(utf8_char_len(text[offset]), text.size() - offset);
        offset += s.n;
        s.prev = static_cast<int32_t>(symbols.size()) - 1;
        s.next = offset == text.size() ? -1 : static_cast<int32_t>(symbols.size()) + 1;
        symbols.push_back(s);
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    std::string joined;
    const auto try_add = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[static_cast<size_t>(left)];
        const Symbol& r = symbols[static_cast<size_t>(right)];
        joined.assign(text.substr(l.start, l.n + r.n));
        const auto it = index_.find(joined);
        if (it == index_.end()) return;
        queue.push(Bigram{left, right, scores_[static_cast<size_t>(it->second)], joined.size()});
    };
    for (size_t i = 1; i < symbols.size(); ++i) {
        try_add(static_cast<int32_t>(i) - 1, static_cast<int32_t>(i));
    }

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = symbols[static_cast<size_t>(b.left)];
        Symbol& r = symbols[static_cast<size_t>(b.right)];
        // Stale: one side was merged away or grew since the candidate was made.
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    // Each remaining symbol is a token, or falls back to one <0xNN> token per byte.
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
        const Symbol& s = symbols[static_cast<size_t>(i)];
        const std::string_view piece_text = text.substr(s.start, s.n);
        joined.assign(piece_text);
        if (const auto it = index_.find(joined); it != index_.end()) {
            out.push_back(it->second);
            continue;
        }
        for (char c : piece_text) {
            const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
            out.push_back(id >= 0 ? id : unk_);
        }
    }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
    std::vector<int32_t> out;
    if (add_bos) out.push_back(bos_);
    if (text.empty()) return out;

    // Split out special token texts, longest first: control and unknown tokens only when
    // parse_special, user-defined ones always (llama.cpp's partition).
    std::vector<Fragment> fragments{Fragment{-1, text}};
    for (const int32_t id : special_ids_) {
        const TokenType t = types_[static_cast<size_t>(id)];
        if (!parse_special && t != TokenType::UserDefined) continue;
        const std::string& special = pieces_[static_cast<size_t>(id)];
        std::vector<Fragment> next;
        next.reserve(fragments.size());
        for (const Fragment& f : fragments) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t pos = 0;
            for (;;) {
                const size_t hit = f.text.find(special, pos);
                if (hit == std::string_view::npos) break;
                if (hit > pos) next.push_back(Fragment{-1, f.text.substr(pos, hit - pos)});
                next.push_back(Fragment{id, {}});
                pos = hit + special.size();
            }
            if (pos < f.text.size()) next.push_back(Fragment{-1, f.text.substr(pos)});
        }
        fragments = std::move(next);
    }

    // Raw text at the start or after a special token gets the space prefix.
    bool after_special = true;
    for (const Fragment& f : fragments) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
            continue;
        }
        std::string raw;
        if (add_space_prefix_ && after_special) raw = " ";
        raw += f.text;
        encode_fragment(escape_spaces(raw), out);
        after_special = false;
    }
    return out;
}

std::string Tokenizer::token_to_bytes(int32_t id) const {
    check_id(id);
    const std::string& text = pieces_[static_cast<size_t>(id)];
    switch (types_[static_cast<size_t>(id)]) {
        case TokenType::Normal:
            return unescape_spaces(text);
        case TokenType::Byte: {
            const int byte = parse_byte_piece(text);
            return byte >= 0 ? std::string(1, static_cast<char>(byte)) : text;
        }
        case TokenType::Unknown:
        case TokenType::UserDefined:
            return text;
        case TokenType::Control:
        case TokenType::Undefined:
        case TokenType::Unused:
            break;
    }
    return {};
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string out;
    size_t first = 0;
    if (!ids.empty() && ids[0] == bos_) first = 1;
    for (size_t i = first; i < ids.size(); ++i) {
        std::string bytes = token_to_bytes(ids[i]);
        if (i == first && add_space_prefix_ && !bytes.empty() && bytes[0] == ' ') {
            bytes.erase(0, 1);
        }
        out += bytes;
    }
    return out;
}

}  // namespace llamux
