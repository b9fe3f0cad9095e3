// StreamDecoder: token ids to UTF-8 text, one token at a time.
#include <cstdint>
#include <string>

#include "llamux/tokenizer.hpp"

namespace llamux {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

struct LeadInfo {
    size_t len = 0;  // 0: never starts a character
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
};

// What a byte promises as the first of a UTF-8 character (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
LeadInfo lead_info(uint8_t b) {
    if (b < 0x80) return {1, 0x80, 0xBF};
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};
    if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xF0) return {4, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};
    return {};
}

// Moves the complete characters at the front of `pending` to the result, each maximal
// invalid subpart as one U+FFFD; leaves in `pending` only a valid but incomplete tail.
std::string take_complete(std::string& pending) {
    std::string out;
    size_t i = 0;
    while (i < pending.size()) {
        const uint8_t b = static_cast<uint8_t>(pending[i]);
        const LeadInfo lead = lead_info(b);
        if (lead.len == 0) {
            out += kReplacement;
            ++i;
            continue;
        }
        size_t k = 1;
        bool broken = false;
        while (k < lead.len && i + k < pending.size()) {
            const uint8_t c = static_cast<uint8_t>(pending[i + k]);
            const uint8_t lo = k == 1 ? lead.lo : 0x80, hi = k == 1 ? lead.hi : 0xBF;
            if (c < lo || c > hi) {
                broken = true;
                break;
            }
            ++k;
        }
        if (broken) {
            out += kReplacement;
            i += k;
        } else if (k == lead.len) {
            out.append(pending, i, k);
            i += k;
        } else {
            break;  // incomplete: wait for more bytes
        }
    }
    pending.erase(0, i);
    return out;
}

}  // namespace

std::string StreamDecoder::push(int32_t id) {
    pending_ += tok_.token_to_bytes(id);
    return take_complete(pending_);
}

std::string StreamDecoder::flush() {
    std::string out = take_complete(pending_);
    if (!pending_.empty()) out += kReplacement;
    pending_.clear();
    return out;
}

}  // namespace llamux
