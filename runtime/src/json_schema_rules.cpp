// GBNF text pieces for the JSON Schema converter (json_schema_internal.hpp).
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "json_schema_internal.hpp"

namespace llamux::schema_gbnf {

namespace {

// \xHH, as GBNF literals and classes take it.
std::string hex_escape(unsigned char byte) {
    static const char* hex = "0123456789ABCDEF";
    return std::string("\\x") + hex[byte >> 4] + hex[byte & 15];
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += separator;
        out += parts[i];
    }
    return out;
}

// ---- integer ranges ------------------------------------------------------------------

std::string digit_range(char first, char last) {
    if (first == last) return literal(std::string(1, first));
    return std::string("[") + first + "-" + last + "]";
}

bool all_of_char(std::string_view text, char c) {
    return std::all_of(text.begin(), text.end(), [c](char d) { return d == c; });
}

// Exactly the digit strings of lo's length between lo and hi (same length, lo <= hi;
// leading zeros allowed: these are tails of longer numbers).
std::string same_length_range(std::string_view lo, std::string_view hi) {
    size_t common = 0;
    while (common < lo.size() && lo[common] == hi[common]) ++common;
    const std::string prefix = common > 0 ? literal(lo.substr(0, common)) : "";
    if (common == lo.size()) return prefix;
    lo.remove_prefix(common);
    hi.remove_prefix(common);
    const size_t rest = lo.size() - 1;  // digits after the first differing one

    std::string body;
    if (rest == 0) {
        body = digit_range(lo[0], hi[0]);
    } else {
        // lo[0] followed by [lo tail, 9..9]; the digits strictly between followed by
        // anything; hi[0] followed by [0..0, hi tail]. A full tail folds into the middle.
        std::vector<std::string> alternatives;
        char first = lo[0];
        char last = hi[0];
        const std::string any_tail = repeat("[0-9]", rest, rest);
        if (!all_of_char(lo.substr(1), '0')) {
            alternatives.push_back(literal(std::string(1, first)) + " " +
                                   group(same_length_range(lo.substr(1), std::string(rest, '9'))));
            ++first;
        }
        std::string upper;
        if (!all_of_char(hi.substr(1), '9')) {
            upper = literal(std::string(1, last)) + " " +
                    group(same_length_range(std::string(rest, '0'), hi.substr(1)));
            --last;
        }
        if (first <= last) alternatives.push_back(digit_range(first, last) + " " + any_tail);
        if (!upper.empty()) alternatives.push_back(upper);
        body = join(alternatives, " | ");
    }
    return prefix.empty() ? body : prefix + " " + group(body);
}

size_t digit_count(uint64_t value) {
    return std::to_string(value).size();
}

uint64_t power_of_ten(size_t exponent) {
    uint64_t result = 1;
    for (size_t i = 0; i < exponent; ++i) result *= 10;
    return result;
}

// The integers in [lo, hi], 0 <= lo <= hi, one alternative per digit count.
std::string natural_range(uint64_t lo, uint64_t hi) {
    std::vector<std::string> alternatives;
    for (size_t digits = digit_count(lo); digits <= digit_count(hi); ++digits) {
        const uint64_t first = std::max(lo, digits == 1 ? 0 : power_of_ten(digits - 1));
        const uint64_t last = std::min(hi, power_of_ten(digits) - 1);
        alternatives.push_back(same_length_range(std::to_string(first), std::to_string(last)));
    }
    return join(alternatives, " | ");
}

// The integers from lo up, at most 16 digits.
std::string natural_from(uint64_t lo) {
    const size_t digits = digit_count(lo);
    std::string out = same_length_range(std::to_string(lo), std::string(digits, '9'));
    if (digits < 16) out += " | [1-9] " + repeat("[0-9]", digits, 15);
    return out;
}

// ---- strings but these ---------------------------------------------------------------

// The characters of JSON-escaped string content: an escape (\n, \u00e9) or one UTF-8
// character.
std::vector<std::string> json_characters(std::string_view escaped) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < escaped.size()) {
        const auto lead = static_cast<unsigned char>(escaped[i]);
        size_t length = 1;
        if (lead == '\\') {
            length = i + 1 < escaped.size() && escaped[i + 1] == 'u' ? 6 : 2;
        } else if (lead >= 0xF0) {
            length = 4;
        } else if (lead >= 0xE0) {
            length = 3;
        } else if (lead >= 0xC0) {
            length = 2;
        }
        length = std::min(length, escaped.size() - i);
        out.emplace_back(escaped.substr(i, length));
        i += length;
    }
    return out;
}

// One character in a [class]: ASCII characters special there as \xHH.
std::string class_member(const std::string& character) {
    const bool special =
        character.size() == 1 && std::string_view("]^-\\[").find(character[0]) != std::string_view::npos;
    return special ? hex_escape(static_cast<unsigned char>(character[0])) : character;
}

struct TrieNode {
    std::map<std::string, size_t> children;  // character -> node index
    bool is_name = false;                    // a whole name ends here
};

std::string tail_except(const std::vector<TrieNode>& trie, size_t node_index) {
    const TrieNode& node = trie[node_index];
    std::vector<std::string> alternatives;
    if (!node.is_name) alternatives.push_back(literal("\""));
    std::string excluded;
    bool escape_child = false;
    for (const auto& [character, child] : node.children) {
        alternatives.push_back(literal(character) + " " + group(tail_except(trie, child)));
        if (character[0] == '\\') {
            escape_child = true;
        } else {
            excluded += class_member(character);
        }
    }
    const std::string other_char = "[^\"\\\\\\x7F\\x00-\\x1F" + excluded + "]";
    const std::string other = escape_child ? other_char : "( " + other_char + " | \"\\\\\" escape )";
    alternatives.push_back(other + " char* " + literal("\""));
    return join(alternatives, " | ");
}

}  // namespace

const Builtin* builtin(std::string_view name) {
    static const std::map<std::string_view, Builtin> rules = {
        // At most one space, or a newline and an indentation of at most 20.
        {"space", {R"g(( " " | "\n" [ \t]{0,20} )?)g", {}}},
        {"char", {R"g([^"\\\x7F\x00-\x1F] | "\\" escape)g", {"escape"}}},
        {"escape", {R"g(["\\/bfnrt] | "u" [0-9a-fA-F]{4})g", {}}},
        {"string", {R"g("\"" char* "\"" space)g", {"char", "space"}}},
        {"number",
         {R"g("-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,16} )? space)g",
          {"space"}}},
        {"integer", {R"g("-"? ( "0" | [1-9] [0-9]{0,15} ) space)g", {"space"}}},
        {"boolean", {R"g(( "true" | "false" ) space)g", {"space"}}},
        {"null", {R"g("null" space)g", {"space"}}},
        {"value",
         {"object | array | string | number | boolean | null",
          {"object", "array", "string", "number", "boolean", "null"}}},
        {"object",
         {R"g("{" space ( string ":" space value ( "," space string ":" space value )* )? "}" space)g",
          {"string", "value", "space"}}},
        {"array", {R"g("[" space ( value ( "," space value )* )? "]" space)g", {"value", "space"}}},
        {"uuid",
         {R"g("\"" [0-9a-fA-F]{8} ( "-" [0-9a-fA-F]{4} ){3} "-" [0-9a-fA-F]{12} "\"" space)g", {"space"}}},
        {"date",
         {R"g([0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ))g", {}}},
        {"time",
         {R"g(time-hour ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )? ( "Z" | [+-] time-hour ":" [0-5] [0-9] ))g",
          {"time-hour"}}},
        {"time-hour", {R"g([01] [0-9] | "2" [0-3])g", {}}},
        {"date-time", {R"g(date "T" time)g", {"date", "time"}}},
        {"date-string", {R"g("\"" date "\"" space)g", {"date", "space"}}},
        {"time-string", {R"g("\"" time "\"" space)g", {"time", "space"}}},
        {"date-time-string", {R"g("\"" date-time "\"" space)g", {"date-time", "space"}}},
    };
    const auto it = rules.find(name);
    return it == rules.end() ? nullptr : &it->second;
}

std::string literal(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7F) {
            out += hex_escape(byte);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string repeat(const std::string& item, uint64_t min, std::optional<uint64_t> max) {
    if (max && *max == 0) return "";
    if (!max) {
        if (min == 0) return item + "*";
        if (min == 1) return item + "+";
        return item + "{" + std::to_string(min) + ",}";
    }
    if (min == 0 && *max == 1) return item + "?";
    if (min == *max) return min == 1 ? item : item + "{" + std::to_string(min) + "}";
    return item + "{" + std::to_string(min) + "," + std::to_string(*max) + "}";
}

std::string sanitize(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
            out += c;
        } else if (!out.empty() && out.back() != '-') {
            out += '-';
        }
    }
    if (!out.empty() && out.back() == '-') out.pop_back();
    return out.empty() ? "unnamed" : out;
}

bool is_rule_name(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
    });
}

std::string group(const std::string& text) {
    int depth = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"' || c == '[') {
            // Skip the literal or class, escapes included.
            const char close = c == '"' ? '"' : ']';
            for (++i; i < text.size() && text[i] != close; ++i) {
                if (text[i] == '\\') ++i;
            }
        } else if (c == '(') {
            ++depth;
        } else if (c == ')') {
            --depth;
        } else if (c == '|' && depth == 0) {
            return "( " + text + " )";
        }
    }
    return text;
}

std::string integer_range(std::optional<int64_t> min, std::optional<int64_t> max) {
    std::vector<std::string> alternatives;
    if (!min || *min < 0) {
        const uint64_t closest = max && *max < 0 ? static_cast<uint64_t>(-*max) : 1;
        const std::string magnitude =
            min ? natural_range(closest, static_cast<uint64_t>(-*min)) : natural_from(closest);
        alternatives.push_back("\"-\" " + group(magnitude));
    }
    if (!max || *max >= 0) {
        const uint64_t lo = min ? static_cast<uint64_t>(std::max<int64_t>(*min, 0)) : 0;
        alternatives.push_back(max ? natural_range(lo, static_cast<uint64_t>(*max)) : natural_from(lo));
    }
    return join(alternatives, " | ");
}

std::string string_tail_except(const std::vector<std::string>& names) {
    std::vector<TrieNode> trie(1);
    for (const std::string& name : names) {
        size_t node = 0;
        for (const std::string& character : json_characters(name)) {
            const auto it = trie[node].children.find(character);
            if (it != trie[node].children.end()) {
                node = it->second;
            } else {
                trie.emplace_back();
                trie[node].children.emplace(character, trie.size() - 1);
                node = trie.size() - 1;
            }
        }
        trie[node].is_name = true;
    }
    return tail_except(trie, 0);
}

}  // namespace llamux::schema_gbnf
