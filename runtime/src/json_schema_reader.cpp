// Reading a JSON Schema's keywords with their JSON pointers (json_schema_internal.hpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string>

#include "json_schema_internal.hpp"
#include "llamux/error.hpp"

namespace llamux::schema_gbnf {

namespace {

const std::set<std::string, std::less<>> kTypes = {"object", "array",   "string", "number",
                                                   "integer", "boolean", "null"};

// Keywords that constrain the text but are not implemented: an error wherever they appear.
const std::set<std::string, std::less<>> kUnsupported = {
    "pattern",          "patternProperties", "propertyNames",    "not",
    "if",               "then",              "else",             "dependentRequired",
    "dependentSchemas", "dependencies",      "minProperties",    "maxProperties",
    "contains",         "minContains",       "maxContains",      "unevaluatedProperties",
    "unevaluatedItems", "multipleOf",        "additionalItems",  "$dynamicRef",
    "$recursiveRef"};

// Keywords the converter reads (besides type and format).
const std::set<std::string, std::less<>> kValidation = {
    "properties", "required", "additionalProperties", "items",            "prefixItems",
    "minItems",   "maxItems", "minLength",            "maxLength",        "enum",
    "const",      "anyOf",    "oneOf",                "allOf",            "$ref",
    "minimum",    "maximum",  "exclusiveMinimum",     "exclusiveMaximum"};

// The fragment of a "#..." reference, percent-decoded.
std::string percent_decode(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// A JSON pointer token, ~1 and ~0 undone.
std::string unescape_token(std::string_view token) {
    std::string out;
    for (size_t i = 0; i < token.size(); ++i) {
        if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
            out += token[++i] == '0' ? '~' : '/';
        } else {
            out += token[i];
        }
    }
    return out;
}

}  // namespace

std::string describe(const Json& value) {
    if (value.is_object()) return "an object";
    if (value.is_array()) return "an array of " + std::to_string(value.size());
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return text;
}

std::string child_pointer(const std::string& pointer, std::string_view key) {
    std::string out = pointer + "/";
    for (const char c : key) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

bool is_validation_keyword(std::string_view key) {
    return kValidation.count(key) != 0;
}

void SchemaReader::fail(const std::string& pointer, const std::string& what) const {
    throw Error(source_ + ": at #" + pointer + ": " + what);
}

void SchemaReader::check_keywords(const Json& schema, const std::string& pointer) const {
    for (const auto& [key, value] : schema.items()) {
        if (kUnsupported.count(key) != 0 || (key == "uniqueItems" && value != false)) {
            fail(child_pointer(pointer, key), "keyword \"" + key + "\" (" + describe(value) +
                                                  ") is not supported: expected a schema without it");
        }
    }
}

void SchemaReader::check_alone(const Json& schema, const std::string& pointer,
                               const std::string& keyword) const {
    for (const auto& [key, value] : schema.items()) {
        if (key != keyword && is_validation_keyword(key)) {
            fail(child_pointer(pointer, key), "keyword \"" + key + "\" beside \"" + keyword +
                                                  "\" is not supported: expected it inside the " +
                                                  (keyword == "$ref" ? "referenced schema" : "alternatives"));
        }
    }
}

const Json& SchemaReader::member(const Json& schema, const std::string& pointer, const char* key,
                                 Json::value_t type, const char* expected) const {
    const Json& value = schema[key];
    if (value.type() != type) {
        fail(child_pointer(pointer, key), std::string("expected ") + expected + ", found " + describe(value));
    }
    return value;
}

std::optional<uint64_t> SchemaReader::count(const Json& schema, const std::string& pointer,
                                            const char* key) const {
    if (!schema.contains(key)) return std::nullopt;
    const Json& value = schema[key];
    const bool whole = value.is_number_float() && std::floor(value.get<double>()) == value.get<double>();
    if (!value.is_number_unsigned() && !(whole && value.get<double>() >= 0)) {
        fail(child_pointer(pointer, key), "expected a non-negative integer, found " + describe(value));
    }
    if (value.get<double>() > static_cast<double>(kMaxCount)) {
        fail(child_pointer(pointer, key), "expected at most " + std::to_string(kMaxCount) +
                                              " (the grammar's repetition limit), found " + describe(value));
    }
    return static_cast<uint64_t>(value.get<double>());
}

std::pair<uint64_t, std::optional<uint64_t>> SchemaReader::count_range(const Json& schema,
                                                                       const std::string& pointer,
                                                                       const char* min_key,
                                                                       const char* max_key) const {
    const uint64_t min = count(schema, pointer, min_key).value_or(0);
    const std::optional<uint64_t> max = count(schema, pointer, max_key);
    if (max && *max < min) {
        fail(child_pointer(pointer, max_key), std::string("expected at least ") + min_key + " (" +
                                                  std::to_string(min) + "), found " + std::to_string(*max));
    }
    return {min, max};
}

std::vector<std::string> SchemaReader::types(const Json& schema, const std::string& pointer) const {
    if (!schema.contains("type")) return {};
    const Json& type = schema["type"];
    const std::string type_pointer = child_pointer(pointer, "type");
    const auto check = [&](const Json& name, const std::string& name_pointer) {
        if (!name.is_string() || kTypes.count(name.get<std::string>()) == 0) {
            fail(name_pointer,
                 "expected one of \"object\", \"array\", \"string\", \"number\", \"integer\", "
                 "\"boolean\", \"null\", found " +
                     describe(name));
        }
        return name.get<std::string>();
    };
    if (!type.is_array()) return {check(type, type_pointer)};
    if (type.empty()) fail(type_pointer, "expected at least one type name, found an empty array");
    std::vector<std::string> out;
    for (size_t i = 0; i < type.size(); ++i)
        out.push_back(check(type[i], child_pointer(type_pointer, std::to_string(i))));
    return out;
}

std::string SchemaReader::string_format(const Json& schema) {
    if (!schema.contains("format") || !schema["format"].is_string()) return "";
    const std::string format = schema["format"].get<std::string>();
    if (format == "date" || format == "time" || format == "date-time") return format + "-string";
    const bool uuid_version = format.size() == 5 && format[4] >= '1' && format[4] <= '5';
    if (format.rfind("uuid", 0) == 0 && (format.size() == 4 || uuid_version)) return "uuid";
    return "";
}

std::optional<int64_t> SchemaReader::integer_bound(const Json& schema, const std::string& pointer,
                                                   bool lower) const {
    const char* inclusive_key = lower ? "minimum" : "maximum";
    const char* exclusive_key = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    std::optional<double> bound;
    const auto tighten = [&](double value) {
        if (!bound || (lower ? value > *bound : value < *bound)) bound = value;
    };
    const auto number = [&](const char* key) {
        const Json& value = schema[key];
        if (!value.is_number())
            fail(child_pointer(pointer, key), "expected a number, found " + describe(value));
        return value.get<double>();
    };
    const bool draft4_exclusive = schema.contains(exclusive_key) && schema[exclusive_key].is_boolean();
    if (schema.contains(inclusive_key)) {
        const double value = number(inclusive_key);
        const bool exclusive = draft4_exclusive && schema[exclusive_key].get<bool>();
        const double rounded = lower ? std::ceil(value) : std::floor(value);
        tighten(exclusive && rounded == value ? rounded + (lower ? 1 : -1) : rounded);
    }
    if (schema.contains(exclusive_key) && !draft4_exclusive) {
        const double value = number(exclusive_key);
        tighten(lower ? std::floor(value) + 1 : std::ceil(value) - 1);
    }
    if (!bound) return std::nullopt;
    const auto limit = static_cast<double>(kMaxInteger);
    if (lower ? *bound < -limit : *bound > limit) return std::nullopt;
    if (lower ? *bound > limit : *bound < -limit) {
        fail(child_pointer(pointer, schema.contains(inclusive_key) ? inclusive_key : exclusive_key),
             "expected a bound within 16 digits (integers have at most 16), found " + describe(*bound));
    }
    return static_cast<int64_t>(*bound);
}

std::pair<std::optional<int64_t>, std::optional<int64_t>> SchemaReader::integer_bounds(
    const Json& schema, const std::string& pointer) const {
    const std::optional<int64_t> min = integer_bound(schema, pointer, true);
    const std::optional<int64_t> max = integer_bound(schema, pointer, false);
    if (min && max && *min > *max) {
        fail(pointer, "expected the minimum (" + std::to_string(*min) +
                          ") at most the maximum, found maximum " + std::to_string(*max));
    }
    return {min, max};
}

std::pair<const Json*, std::string> SchemaReader::resolve(const Json& ref,
                                                          const std::string& ref_pointer) const {
    if (!ref.is_string()) fail(ref_pointer, "expected a string, found " + describe(ref));
    const std::string text = ref.get<std::string>();
    if (text.empty() || text[0] != '#' || (text.size() > 1 && text[1] != '/')) {
        fail(ref_pointer, "expected a local reference \"#\" or \"#/...\", found " + describe(ref));
    }
    const std::string fragment = percent_decode(std::string_view(text).substr(1));
    const Json* node = &doc_;
    std::string pointer;
    for (size_t start = 1; start <= fragment.size();) {
        const size_t end = std::min(fragment.find('/', start), fragment.size());
        const std::string token = unescape_token(std::string_view(fragment).substr(start, end - start));
        const Json* next = nullptr;
        if (node->is_object() && node->contains(token)) {
            next = &(*node)[token];
        } else if (node->is_array() && !token.empty() && token.size() < 10 &&
                   token.find_first_not_of("0123456789") == std::string::npos &&
                   std::stoul(token) < node->size()) {
            next = &(*node)[std::stoul(token)];
        }
        if (next == nullptr) {
            fail(ref_pointer, "$ref " + describe(ref) + " does not resolve: expected \"" + token + "\" in #" +
                                  pointer + ", found " + describe(*node));
        }
        node = next;
        pointer = child_pointer(pointer, token);
        start = end + 1;
    }
    return {node, pointer};
}

}  // namespace llamux::schema_gbnf
