#include "escapes.hpp"

#include <cstdlib>

namespace llamux::tools {

std::string process_escapes(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\' || i + 1 >= text.size()) {
            out += text[i];
            continue;
        }
        const char c = text[++i];
        switch (c) {
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case 'x':
                if (i + 2 < text.size()) {
                    const char digits[3] = {text[i + 1], text[i + 2], 0};
                    char* end = nullptr;
                    const long value = std::strtol(digits, &end, 16);
                    if (end == digits + 2) {
                        out += static_cast<char>(value);
                        i += 2;
                        break;
                    }
                }
                [[fallthrough]];
            default:
                out += '\\';
                out += c;
        }
    }
    return out;
}

}  // namespace llamux::tools
