// The Llama SentencePiece (BPE with scores) tokenizer, driven by a GGUF vocabulary
// (tokenizer.ggml.model = "llama"). Behaves as llama.cpp's SPM tokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llamux {

class GgufFile;

enum class TokenType : int32_t {
    Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

class Tokenizer {
public:
    // Reads tokens, scores, token types, special ids, add_bos and add_space_prefix from the
    // GGUF metadata (tokenizer.ggml.*; scores default to 0 and types to Normal when absent).
    // Throws Error naming the file and key when something is missing or inconsistent.
    static Tokenizer from_gguf(const GgufFile& file);
    // The same from plain vectors (all of one length); `source` names them in errors.
    static Tokenizer from_vocab(std::vector<std::string> pieces, std::vector<float> scores,
                                std::vector<TokenType> types, int32_t bos, int32_t eos,
                                int32_t unk, bool add_bos, const std::string& source,
                                bool add_space_prefix = true);

    // Text to ids: the ▁ space prefix, score-ordered merges, byte fallback <0xNN>.
    // parse_special: recognise control and unknown token texts such as "</s>" in the text.
    // User-defined tokens are always split out first, as llama.cpp does. Empty text gives
    // no tokens (only BOS when add_bos). Bytes with no token and no <0xNN> fall back to unk.
    std::vector<int32_t> encode(std::string_view text, bool add_bos,
                                bool parse_special = false) const;

    // The bytes a token stands for: ▁ becomes a space, <0xNN> the byte NN, control tokens
    // nothing. May be an incomplete UTF-8 sequence.
    std::string token_to_bytes(int32_t id) const;
    // Whole sequence to text, as llama.cpp detokenizes: drops the space prefix of the first
    // token when the sequence starts with BOS or a prefixed piece. A leading BOS is skipped
    // and the space dropped from the token after it, so decode(encode(x, true)) == x
    // (llama.cpp keeps that space after BOS). Bytes are not checked for valid UTF-8.
    // Throws Error for an id outside [0, n_vocab) (as do token_to_bytes, piece and type).
    std::string decode(const std::vector<int32_t>& ids) const;

    const std::string& piece(int32_t id) const;  // the vocabulary text, e.g. "▁the", "<0x0A>"
    TokenType type(int32_t id) const;
    int32_t n_vocab() const { return static_cast<int32_t>(pieces_.size()); }
    int32_t bos() const { return bos_; }
    int32_t eos() const { return eos_; }
    int32_t unk() const { return unk_; }
    bool add_bos() const { return add_bos_; }
    bool add_space_prefix() const { return add_space_prefix_; }

private:
    void check_id(int32_t id) const;
    // The score-ordered merges and byte fallback over one fragment, already escaped (▁).
    void encode_fragment(std::string_view escaped, std::vector<int32_t>& out) const;

    std::vector<std::string> pieces_;
    std::vector<float> scores_;
    std::vector<TokenType> types_;
    std::unordered_map<std::string, int32_t> index_;
    int32_t bos_ = 1, eos_ = 2, unk_ = 0;
    bool add_bos_ = true;
    bool add_space_prefix_ = true;
    std::array<int32_t, 256> byte_ids_{};  // the <0xNN> token of each byte, -1 when absent
    std::vector<int32_t> special_ids_;     // control/user-defined/unknown, longest text first
};

// Turns a stream of token ids into valid UTF-8 text chunks: bytes of a multi-byte character
// split across tokens are held until the character is complete; bytes that can never form a
// character are emitted as U+FFFD at once. Pieces come as token_to_bytes gives them (no
// leading-space removal: meant for generated text that follows a prompt). Keeps a reference
// to the tokenizer, which must outlive it.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer) : tok_(tokenizer) {}
    std::string push(int32_t id);  // complete characters available now (maybe empty)
    std::string flush();           // whatever is held, invalid bytes as U+FFFD

private:
    const Tokenizer& tok_;
    std::string pending_;
};

}  // namespace llamux
