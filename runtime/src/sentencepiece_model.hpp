// Reader of SentencePiece model files (tokenizer.model): a serialized ModelProto protobuf.
// Only what a GGUF vocabulary needs is read: field 1, the repeated SentencePiece messages
// {1: piece (string), 2: score (float), 3: type (enum, default NORMAL)}. Every other field
// (trainer and normalizer specs, ...) is skipped by its wire type. Malformed input (a
// truncated varint or field, an unknown wire type, an unknown piece type) throws
// llamux::Error naming the file, the piece index and the byte offset. Internal to the
// runtime (used by hf_convert.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llamux {

// sentencepiece::ModelProto::SentencePiece::Type.
enum class SentencePieceType : int32_t {
    NORMAL = 1,
    UNKNOWN = 2,
    CONTROL = 3,
    USER_DEFINED = 4,
    UNUSED = 5,
    BYTE = 6,
};

struct SentencePiece {
    std::string piece;
    float score = 0.0f;
    SentencePieceType type = SentencePieceType::NORMAL;
};

// The pieces of a serialized ModelProto, in id order. `what` names the source in errors.
std::vector<SentencePiece> parse_sentencepiece_model(const uint8_t* data, size_t size,
                                                     const std::string& what);
// Reads and parses a tokenizer.model file. Throws Error naming the path.
std::vector<SentencePiece> read_sentencepiece_model(const std::string& path);

}  // namespace llamux
