// The JSON Schema converter's pieces (json_schema.hpp): GBNF text (json_schema_rules.cpp) and
// reading a schema's keywords with their JSON pointers (json_schema_reader.cpp). The walk
// that puts them together is json_schema_grammar.cpp. Internal to the runtime.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llamux::schema_gbnf {

using Json = nlohmann::ordered_json;  // keeps the schema's property order

// Largest count a repetition may have (parse_grammar's limit).
constexpr uint64_t kMaxCount = 100000;
// Integers have at most 16 digits, as in llama.cpp: |n| <= kMaxInteger.
constexpr int64_t kMaxInteger = 9999999999999999;

// ---- GBNF text (json_schema_rules.cpp) --------------------------------------------------

// A built-in rule: its body and the built-in rules that body refers to.
struct Builtin {
    std::string_view body;
    std::vector<std::string_view> deps;
};
// The built-in rule named `name` (space, char, escape, string, number, integer, boolean,
// null, value, object, array, uuid, date, time, time-hour, date-time, date-string,
// time-string, date-time-string), or nullptr.
const Builtin* builtin(std::string_view name);

// A GBNF literal "..." matching exactly the UTF-8 `text`.
std::string literal(std::string_view text);

// `item` repeated min..max times (max: nullopt for no limit), as GBNF ("" when max is 0).
// `item` must be a rule name, a class or a parenthesised group.
std::string repeat(const std::string& item, uint64_t min, std::optional<uint64_t> max);

// `text` wrapped in parentheses when it has a top-level alternative, so that it can be one
// element of a sequence.
std::string group(const std::string& text);

// A rule name from any text: runs of characters other than [a-zA-Z0-9] become one "-",
// none at either end ("user_name" -> "user-name"); "unnamed" when nothing is left.
std::string sanitize(std::string_view text);
// Is `text` one rule name (and so a whole expression)?
bool is_rule_name(const std::string& text);

// The digits of the integers in [min, max] (either may be absent; |bounds| <= kMaxInteger,
// min <= max), at most 16 of them, without leading zeros, with "-" for negatives (no "-0").
std::string integer_range(std::optional<int64_t> min, std::optional<int64_t> max);

// The rest of a JSON string after its opening quote, closing quote included, whose content
// is none of `names` (each the JSON-escaped content of a string, as dump() writes it between
// the quotes). A character escaped in a name is matched only in that escaped form; where a
// name has an escape, other escapes are not offered at that position. Refers to the
// built-in rules char and escape.
std::string string_tail_except(const std::vector<std::string>& names);

// ---- reading a schema (json_schema_reader.cpp) ------------------------------------------

// A value for an error message: its JSON text (cut at 60 characters), or "an object",
// "an array of N".
std::string describe(const Json& value);
// `pointer` + "/" + `key` with ~ and / escaped (RFC 6901).
std::string child_pointer(const std::string& pointer, std::string_view key);
// Keywords this converter reads besides type and format.
bool is_validation_keyword(std::string_view key);

// Reads the keywords of one schema document, checking their shape. Every error is an
// llamux::Error "source: at #pointer: what, expected ..., found ...". Keeps references to
// the document and the source name: both must outlive it.
class SchemaReader {
public:
    SchemaReader(const Json& document, const std::string& source) : doc_(document), source_(source) {}

    [[noreturn]] void fail(const std::string& pointer, const std::string& what) const;

    // Keywords that change the language but are not supported: an error.
    void check_keywords(const Json& schema, const std::string& pointer) const;
    // Validation keywords beside `keyword` ($ref, anyOf...), which would be dropped: an error.
    void check_alone(const Json& schema, const std::string& pointer, const std::string& keyword) const;
    // schema[key], which must be of `type` (`expected` says it in words).
    const Json& member(const Json& schema, const std::string& pointer, const char* key, Json::value_t type,
                       const char* expected) const;
    // min_key / max_key counts (minItems...): integers in [0, kMaxCount], min <= max.
    std::pair<uint64_t, std::optional<uint64_t>> count_range(const Json& schema, const std::string& pointer,
                                                             const char* min_key, const char* max_key) const;
    // The "type" keyword as a list of known type names (empty when absent).
    std::vector<std::string> types(const Json& schema, const std::string& pointer) const;
    // The built-in rule for the schema's "format" (date-string, uuid...), "" for none or an
    // unknown one.
    static std::string string_format(const Json& schema);
    // The integer bounds from minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft 4
    // booleans too), rounded inwards; a bound beyond 16 digits that excludes nothing is absent.
    std::pair<std::optional<int64_t>, std::optional<int64_t>> integer_bounds(
        const Json& schema, const std::string& pointer) const;
    // The schema a local $ref points to ("#", "#/$defs/x", any "#/json/pointer", percent-
    // encoded or not) and its pointer.
    std::pair<const Json*, std::string> resolve(const Json& ref, const std::string& ref_pointer) const;

    const Json& document() const { return doc_; }

private:
    std::optional<uint64_t> count(const Json& schema, const std::string& pointer, const char* key) const;
    std::optional<int64_t> integer_bound(const Json& schema, const std::string& pointer, bool lower) const;

    const Json& doc_;
    const std::string& source_;
};

}  // namespace llamux::schema_gbnf
