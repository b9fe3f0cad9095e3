// SentencePiece ModelProto reader (see sentencepiece_model.hpp): a minimal protobuf
// wire-format decoder.
#include "sentencepiece_model.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

#include "llamux/error.hpp"

namespace llamux {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// A bounded cursor over one message's bytes.
class Reader {
public:
    Reader(const uint8_t* data, size_t size, size_t base, const std::string& what)
        : start_(data), p_(data), end_(data + size), base_(base), what_(what) {}

    bool done() const { return p_ == end_; }
    size_t offset() const { return base_of(p_); }

    uint64_t varint(const char* field) {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ == end_) fail(std::string("truncated varint in ") + field);
            const uint8_t b = *p_++;
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return v;
        }
        fail(std::string("varint longer than 10 bytes in ") + field);
    }
    // The bytes of a length-delimited field; advances past them.
    std::pair<const uint8_t*, size_t> bytes(const char* field) {
        const uint64_t n = varint(field);
        if (n > static_cast<uint64_t>(end_ - p_)) {
            fail(std::string(field) + ": length " + std::to_string(n) + " but only " +
                 std::to_string(end_ - p_) + " bytes remain (truncated?)");
        }
        const uint8_t* at = p_;
        p_ += n;
        return {at, static_cast<size_t>(n)};
    }
    uint32_t fixed32(const char* field) {
        if (end_ - p_ < 4) fail(std::string("truncated fixed32 in ") + field);
        uint32_t v = 0;
        for (int i = 3; i >= 0; --i) v = (v << 8) | p_[i];
        p_ += 4;
        return v;
    }
    void skip(uint32_t wire_type, const char* field) {
        switch (wire_type) {
            case kVarint: (void)varint(field); return;
            case kFixed64:
                if (end_ - p_ < 8) fail(std::string("truncated fixed64 in ") + field);
                p_ += 8;
                return;
            case kLengthDelimited: (void)bytes(field); return;
            case kFixed32: (void)fixed32(field); return;
            default:
                fail(std::string(field) + ": unsupported protobuf wire type " +
                     std::to_string(wire_type));
        }
    }
    [[noreturn]] void fail(const std::string& message) const {
        throw Error(what_ + ": byte " + std::to_string(offset()) + ": " + message);
    }
    // The absolute offset (from the start of the file) of a byte of this message.
    size_t base_of(const uint8_t* at) const { return base_ + static_cast<size_t>(at - start_); }

private:
    const uint8_t* start_;
    const uint8_t* p_;
    const uint8_t* end_;
    size_t base_;
    const std::string& what_;
};

SentencePiece parse_piece(Reader& r, size_t index) {
    SentencePiece sp;
    const std::string label = "piece " + std::to_string(index);
    while (!r.done()) {
        const uint64_t tag = r.varint(label.c_str());
        const auto field = static_cast<uint32_t>(tag >> 3);
        const auto wire = static_cast<uint32_t>(tag & 7);
        if (field == 1 && wire == kLengthDelimited) {
            const auto [at, n] = r.bytes(label.c_str());
            sp.piece.assign(reinterpret_cast<const char*>(at), n);
        } else if (field == 2 && wire == kFixed32) {
            const uint32_t bits = r.fixed32(label.c_str());
            std::memcpy(&sp.score, &bits, sizeof bits);
        } else if (field == 3 && wire == kVarint) {
            const uint64_t t = r.varint(label.c_str());
            if (t < 1 || t > 6) {
                r.fail(label + " '" + sp.piece + "': type: expected 1 (NORMAL) to 6 (BYTE), found " +
                       std::to_string(t));
            }
            sp.type = static_cast<SentencePieceType>(t);
        } else {
            r.skip(wire, label.c_str());
        }
    }
    return sp;
}

}  // namespace

std::vector<SentencePiece> parse_sentencepiece_model(const uint8_t* data, size_t size,
                                                     const std::string& what) {
    std::vector<SentencePiece> pieces;
    Reader model(data, size, 0, what);
    while (!model.done()) {
        const uint64_t tag = model.varint("ModelProto");
        const auto field = static_cast<uint32_t>(tag >> 3);
        const auto wire = static_cast<uint32_t>(tag & 7);
        if (field == 1 && wire == kLengthDelimited) {
            const auto [at, n] = model.bytes("ModelProto.pieces");
            Reader piece(at, n, model.base_of(at), what);
            pieces.push_back(parse_piece(piece, pieces.size()));
        } else {
            model.skip(wire, "ModelProto");
        }
    }
    if (pieces.empty()) throw Error(what + ": expected SentencePiece pieces, found none");
    return pieces;
}

std::vector<SentencePiece> read_sentencepiece_model(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open");
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    return parse_sentencepiece_model(bytes.data(), bytes.size(), path);
}

}  // namespace llamux
