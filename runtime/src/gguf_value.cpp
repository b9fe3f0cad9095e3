// GgufValue: typed access and a one-line display form of GGUF metadata values.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "llamux/gguf.hpp"

namespace llamux {
namespace {

// Shortest text that reads back as the same float (FLOAT32) or double (FLOAT64).
std::string format_float(GgufType type, double v) {
    char buf[64];
    std::to_chars_result r{};
    const bool fits_float = !std::isfinite(v) || std::fabs(v) <= double(std::numeric_limits<float>::max());
    if (type == GgufType::FLOAT32 && fits_float) {
        r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v));
    } else {
        r = std::to_chars(buf, buf + sizeof(buf), v);
    }
    return std::string(buf, r.ptr);
}

// Escapes control bytes, backslash and (when quoted) the double quote, so that a value
// always prints on one line. Bytes >= 0x80 pass through (UTF-8 text stays readable).
void append_escaped(std::string& out, const std::string& s, bool quoted) {
    static constexpr char kHex[] = "0123456789abcdef";
    if (quoted) out += '"';
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '\\': out += "\\\\"; break;
            case '"':
                if (quoted) out += '\\';
                out += '"';
                break;
            default:
                if (u < 0x20 || u == 0x7f) {
                    out += "\\x";
                    out += kHex[u >> 4];
                    out += kHex[u & 0xf];
                } else {
                    out += c;
                }
        }
    }
    if (quoted) out += '"';
}

void append_display(std::string& out, const GgufValue& v, size_t max_items, bool quote_strings) {
    if (const auto* u = std::get_if<uint64_t>(&v.value)) {
        out += std::to_string(*u);
    } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
        out += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&v.value)) {
        out += format_float(v.type, *d);
    } else if (const auto* b = std::get_if<bool>(&v.value)) {
        out += *b ? "true" : "false";
    } else if (const auto* s = std::get_if<std::string>(&v.value)) {
        append_escaped(out, *s, quote_strings);
    } else if (const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v.value)) {
        if (!*a) {
            out += "[]";
            return;
        }
        const GgufArray& arr = **a;
        out += '[';
        out += gguf_type_name(arr.elem_type);
        out += " x ";
        out += std::to_string(arr.items.size());
        for (size_t k = 0; k < arr.items.size() && k < max_items; ++k) {
            out += k == 0 ? ": " : ", ";
            append_display(out, arr.items[k], max_items, true);
        }
        if (arr.items.size() > max_items) out += ", ...";
        out += ']';
    }
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::UINT8: return "uint8";
        case GgufType::INT8: return "int8";
        case GgufType::UINT16: return "uint16";
        case GgufType::INT16: return "int16";
        case GgufType::UINT32: return "uint32";
        case GgufType::INT32: return "int32";
        case GgufType::FLOAT32: return "float32";
        case GgufType::BOOL: return "bool";
        case GgufType::STRING: return "string";
        case GgufType::ARRAY: return "array";
        case GgufType::UINT64: return "uint64";
        case GgufType::INT64: return "int64";
        case GgufType::FLOAT64: return "float64";
    }
    return "unknown";
}

std::optional<int64_t> GgufValue::as_int() const {
    if (const auto* u = std::get_if<uint64_t>(&value)) {
        if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
        return static_cast<int64_t>(*u);
    }
    if (const auto* i = std::get_if<int64_t>(&value)) return *i;
    return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
    if (const auto* d = std::get_if<double>(&value)) return *d;
    if (const auto* u = std::get_if<uint64_t>(&value)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<int64_t>(&value)) return static_cast<double>(*i);
    return std::nullopt;
}

const std::string* GgufValue::as_string() const { return std::get_if<std::string>(&value); }

const GgufArray* GgufValue::as_array() const {
    const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&value);
    return a ? a->get() : nullptr;
}

std::string GgufValue::to_display(size_t max_array_items) const {
    std::string out;
    append_display(out, *this, max_array_items, false);
    return out;
}

}  // namespace llamux
