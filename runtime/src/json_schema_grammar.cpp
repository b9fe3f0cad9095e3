// JSON Schema -> GBNF (json_schema.hpp): one walk over the schema that writes a rule per
// schema node worth naming, checking each keyword where it is used.
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "json_schema_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/json_schema.hpp"

namespace llamux {
namespace {

using namespace schema_gbnf;

// A property of an object being built, with where it was declared.
struct Property {
    std::string name;
    const Json* schema;
    std::string pointer;
};

constexpr int kMaxSchemaDepth = 256;

class Converter : private SchemaReader {
public:
    Converter(const Json& document, const std::string& source) : SchemaReader(document, source) {}

    std::string run() {
        rules_.emplace_back("root", "");
        index_.emplace("root", 0);
        refs_.emplace("", "root");
        bare_refs_ = {""};
        rules_[0].second = expr(document(), "root", "");
        std::string out;
        for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
        return out;
    }

private:
    // ---- rules -------------------------------------------------------------------------

    // A name for a new rule: `base` sanitised, numbered when taken. With a body, a rule of
    // that name and body already made is reused.
    std::string add_rule(const std::string& base, const std::string& body) {
        const std::string name = sanitize(base);
        for (int n = 1;; ++n) {
            const std::string candidate = n == 1 ? name : name + "-" + std::to_string(n);
            if (builtin(candidate) != nullptr) continue;
            const auto it = index_.find(candidate);
            if (it == index_.end()) {
                index_.emplace(candidate, rules_.size());
                rules_.emplace_back(candidate, body);
                return candidate;
            }
            if (!body.empty() && rules_[it->second].second == body) return candidate;
        }
    }

    // The built-in rule `name` and those it uses, added once.
    std::string add_builtin(std::string_view name) {
        const std::string key(name);
        if (index_.count(key) == 0) {
            const Builtin* rule = builtin(name);
            index_.emplace(key, rules_.size());
            rules_.emplace_back(key, std::string(rule->body));
            for (const std::string_view dep : rule->deps) add_builtin(dep);
        }
        return key;
    }

    // `name` for rules below the one named `parent` (the root's are unprefixed).
    static std::string child_name(const std::string& parent, const std::string& suffix) {
        return parent == "root" ? sanitize(suffix) : parent + "-" + sanitize(suffix);
    }

    // A rule name for a value matching `schema`: a built-in or a new rule named `name`.
    std::string rule(const Json& schema, const std::string& name, const std::string& pointer) {
        const std::string body = expr(schema, name, pointer);
        return is_rule_name(body) ? body : add_rule(name, body);
    }

    // ---- $ref --------------------------------------------------------------------------

    // The rule for a $ref: made once per target, named after the target's last token.
    std::string ref_rule(const Json& ref, const std::string& ref_pointer) {
        const auto [target, pointer] = resolve(ref, ref_pointer);
        for (const std::string& bare : bare_refs_) {
            if (bare == pointer) {
                fail(ref_pointer, "$ref " + describe(ref) +
                                      " cycles back to itself: expected an object or an array on the way");
            }
        }
        const auto known = refs_.find(pointer);
        if (known != refs_.end()) return known->second;
        const std::string name = add_rule(pointer.substr(pointer.rfind('/') + 1), "");
        refs_.emplace(pointer, name);
        bare_refs_.push_back(pointer);
        const std::string body = expr(*target, name, pointer);
        bare_refs_.pop_back();
        rules_[index_.at(name)].second = body;
        return name;
    }

    // ---- schemas -----------------------------------------------------------------------

    // The GBNF expression for a value matching `schema` (at `pointer`); rules it makes are
    // named from `name`.
    std::string expr(const Json& schema, const std::string& name, const std::string& pointer) {
        // The walk recurses once per nested schema: bounded, so that a hostile schema gets an
        // error rather than overflowing the stack.
        struct Depth {
            int& n;
            explicit Depth(int& depth) : n(++depth) {}
            ~Depth() { --n; }
        } depth(depth_);
        if (depth_ > kMaxSchemaDepth) {
            fail(pointer, "schemas nested more than " + std::to_string(kMaxSchemaDepth) + " deep");
        }
        if (schema.is_boolean()) {
            if (schema.get<bool>()) return add_builtin("value");
            fail(pointer, "the schema false matches nothing: expected a schema that accepts a value");
        }
        if (!schema.is_object())
            fail(pointer, "expected a schema (an object or a boolean), found " + describe(schema));
        check_keywords(schema, pointer);

        if (schema.contains("$ref")) {
            check_alone(schema, pointer, "$ref");
            return ref_rule(schema["$ref"], child_pointer(pointer, "$ref"));
        }
        for (const char* keyword : {"anyOf", "oneOf"}) {
            if (!schema.contains(keyword)) continue;
            check_alone(schema, pointer, keyword);
            const Json& alternatives =
                member(schema, pointer, keyword, Json::value_t::array, "an array of schemas");
            if (alternatives.empty())
                fail(child_pointer(pointer, keyword), "expected at least one schema, found none");
            std::string body;
            const std::string base = name == "root" ? "alt" : name;
            for (size_t i = 0; i < alternatives.size(); ++i) {
                const std::string index = std::to_string(i);
                if (i > 0) body += " | ";
                body += rule(alternatives[i], base + "-" + index,
                             child_pointer(child_pointer(pointer, keyword), index));
            }
            return body;
        }

        std::vector<std::string> kinds = types(schema, pointer);
        if (schema.contains("const")) return literal(schema["const"].dump()) + " " + add_builtin("space");
        if (schema.contains("enum")) {
            const Json& values = member(schema, pointer, "enum", Json::value_t::array, "an array of values");
            if (values.empty())
                fail(child_pointer(pointer, "enum"), "expected at least one value, found none");
            std::string body;
            for (const Json& value : values) body += (body.empty() ? "" : " | ") + literal(value.dump());
            return "( " + body + " ) " + add_builtin("space");
        }
        if (schema.contains("allOf")) {
            const Json& components =
                member(schema, pointer, "allOf", Json::value_t::array, "an array of schemas");
            if (components.empty())
                fail(child_pointer(pointer, "allOf"), "expected at least one schema, found none");
            bool alone = true;
            for (const auto& item : schema.items())
                alone = alone && (item.key() == "allOf" || !is_validation_keyword(item.key()));
            // A lone component (pydantic wraps a $ref so, to describe it): that schema.
            if (components.size() == 1 && alone)
                return expr(components[0], name, child_pointer(pointer, "allOf") + "/0");
            if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), "object") == kinds.end()) {
                fail(child_pointer(pointer, "allOf"),
                     "expected allOf in an object schema (components merged), "
                     "found it beside type " +
                         describe(schema["type"]));
            }
        }
        if (kinds.empty()) kinds = {implied_type(schema)};
        if (kinds.size() == 1) return typed_expr(schema, kinds[0], name, pointer);
        std::string body;
        for (const std::string& kind : kinds) {
            body += (body.empty() ? "" : " | ") + group(typed_expr(schema, kind, name, pointer));
        }
        return body;
    }

    // The type a schema without "type" stands for, from its keywords ("" for any value).
    static std::string implied_type(const Json& schema) {
        const auto any = [&](std::initializer_list<const char*> keys) {
            for (const char* key : keys) {
                if (schema.contains(key)) return true;
            }
            return false;
        };
        if (any({"properties", "additionalProperties", "required", "allOf"})) return "object";
        if (any({"items", "prefixItems", "minItems", "maxItems"})) return "array";
        if (any({"minLength", "maxLength"}) ||
            (schema.contains("format") && !SchemaReader::string_format(schema).empty())) {
            return "string";
        }
        if (any({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) return "number";
        return "";
    }

    std::string typed_expr(const Json& schema, const std::string& kind, const std::string& name,
                           const std::string& pointer) {
        if (kind == "object") return object_expr(schema, name, pointer);
        if (kind == "array") return array_expr(schema, name, pointer);
        if (kind == "string") return string_expr(schema, pointer);
        if (kind == "integer") return integer_expr(schema, pointer);
        if (kind.empty()) return add_builtin("value");
        return add_builtin(kind);  // number, boolean, null
    }

    std::string string_expr(const Json& schema, const std::string& pointer) {
        const auto [min, max] = count_range(schema, pointer, "minLength", "maxLength");
        const std::string format = SchemaReader::string_format(schema);
        if (!format.empty()) return add_builtin(format);
        if (min == 0 && !max) return add_builtin("string");
        return "\"\\\"\" " + repeat(add_builtin("char"), min, max) + " \"\\\"\" " + add_builtin("space");
    }

    // ---- integers ----------------------------------------------------------------------

    std::string integer_expr(const Json& schema, const std::string& pointer) {
        const auto [min, max] = integer_bounds(schema, pointer);
        if (!min && !max) return add_builtin("integer");
        return "( " + integer_range(min, max) + " ) " + add_builtin("space");
    }

    // ---- arrays ------------------------------------------------------------------------

    std::string array_expr(const Json& schema, const std::string& name, const std::string& pointer) {
        const auto [min, max] = count_range(schema, pointer, "minItems", "maxItems");
        // The tuple (prefixItems, or a draft 7 "items" list) and what may follow it.
        const Json* tuple = nullptr;
        std::string tuple_pointer;
        const Json any = true;
        const Json* rest = &any;  // nullptr: nothing may follow
        std::string rest_pointer = child_pointer(pointer, "items");
        if (schema.contains("prefixItems")) {
            tuple = &member(schema, pointer, "prefixItems", Json::value_t::array, "an array of schemas");
            tuple_pointer = child_pointer(pointer, "prefixItems");
            rest = nullptr;  // as llama.cpp: exactly the tuple unless "items" says more
        }
        if (schema.contains("items")) {
            const Json& items = schema["items"];
            if (items.is_array()) {
                if (tuple != nullptr)
                    fail(rest_pointer, "expected a schema beside prefixItems, found " + describe(items));
                tuple = &items;
                tuple_pointer = rest_pointer;
                rest = nullptr;
            } else {
                rest = items == false ? nullptr : &items;
            }
        }
        const uint64_t fixed = tuple != nullptr ? tuple->size() : 0;
        if (max && *max < fixed) {
            fail(child_pointer(pointer, "maxItems"), "expected at least the " + std::to_string(fixed) +
                                                         " tuple items (all are required), found " +
                                                         std::to_string(*max));
        }
        if (rest == nullptr && min > fixed) {
            fail(child_pointer(pointer, "minItems"), "expected at most the " + std::to_string(fixed) +
                                                         " items allowed, found " + std::to_string(min));
        }

        const std::vector<std::string> saved = std::exchange(bare_refs_, {});
        const std::string space = add_builtin("space");
        std::string body = "\"[\" " + space;
        for (uint64_t i = 0; i < fixed; ++i) {
            const std::string index = std::to_string(i);
            if (i > 0) body += " \",\" " + space;
            body += " " + rule((*tuple)[i], child_name(name, "tuple-" + index),
                               child_pointer(tuple_pointer, index));
        }
        const std::optional<uint64_t> more_max = rest == nullptr ? std::optional<uint64_t>(0)
                                                 : max           ? std::optional<uint64_t>(*max - fixed)
                                                                 : std::nullopt;
        if (!more_max || *more_max > 0) {
            const uint64_t more_min = min > fixed ? min - fixed : 0;
            const std::string item = rule(*rest, child_name(name, "item"), rest_pointer);
            const std::string next = "( \",\" " + space + " " + item + " )";
            if (fixed > 0) {
                body += " " + repeat(next, more_min, more_max);
            } else {
                // The first item has no comma before it.
                const auto less = [](std::optional<uint64_t> n) {
                    return n ? std::optional<uint64_t>(*n - 1) : n;
                };
                const std::string others = repeat(next, more_min > 0 ? more_min - 1 : 0, less(more_max));
                if (others.empty()) {
                    body += " " + item + (more_min > 0 ? "" : "?");
                } else {
                    body += more_min > 0 ? " " + item + " " + others : " ( " + item + " " + others + " )?";
                }
            }
        }
        bare_refs_ = saved;
        return body + " \"]\" " + space;
    }

    // ---- objects -----------------------------------------------------------------------

    // Gathers the properties and required names of an object schema and of its allOf
    // components (each an object schema or a $ref to one).
    void gather(const Json& schema, const std::string& pointer, std::vector<Property>& properties,
                std::vector<std::pair<std::string, std::string>>& required, int depth) {
        if (schema.contains("properties")) {
            const Json& declared =
                member(schema, pointer, "properties", Json::value_t::object, "an object of schemas");
            for (const auto& [key, value] : declared.items()) {
                const std::string at = child_pointer(child_pointer(pointer, "properties"), key);
                for (const Property& seen : properties) {
                    if (seen.name == key)
                        fail(at, "property \"" + key + "\" declared twice: expected it once, found it at #" +
                                     seen.pointer + " too");
                }
                properties.push_back({key, &value, at});
            }
        }
        if (schema.contains("required")) {
            const Json& names =
                member(schema, pointer, "required", Json::value_t::array, "an array of property names");
            for (size_t i = 0; i < names.size(); ++i) {
                const std::string at = child_pointer(child_pointer(pointer, "required"), std::to_string(i));
                if (!names[i].is_string()) fail(at, "expected a property name, found " + describe(names[i]));
                required.emplace_back(names[i].get<std::string>(), at);
            }
        }
        if (!schema.contains("allOf")) return;
        const Json& components =
            member(schema, pointer, "allOf", Json::value_t::array, "an array of schemas");
        for (size_t i = 0; i < components.size(); ++i) {
            const Json* component = &components[i];
            std::string at = child_pointer(child_pointer(pointer, "allOf"), std::to_string(i));
            for (int hops = 0; component->is_object() && component->contains("$ref"); ++hops) {
                if (hops > 32 || depth > 32) fail(at, "$ref chain too long: expected an object schema");
                check_alone(*component, at, "$ref");
                std::tie(component, at) = resolve((*component)["$ref"], child_pointer(at, "$ref"));
            }
            if (!component->is_object())
                fail(at, "expected an object schema in allOf, found " + describe(*component));
            check_keywords(*component, at);
            for (const auto& [key, value] : component->items()) {
                const bool object_keyword = key == "properties" || key == "required" || key == "allOf" ||
                                            key == "additionalProperties" ||
                                            (key == "type" && value == "object");
                if (!object_keyword && (is_validation_keyword(key) || key == "type")) {
                    fail(child_pointer(at, key),
                         "expected only object keywords in an allOf component "
                         "(type object, properties, required), found \"" +
                             key + "\"");
                }
            }
            gather(*component, at, properties, required, depth + 1);
        }
    }

    std::string object_expr(const Json& schema, const std::string& name, const std::string& pointer) {
        std::vector<Property> properties;
        std::vector<std::pair<std::string, std::string>> required_names;  // name, pointer
        gather(schema, pointer, properties, required_names, 0);
        const Json* additional =
            schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
        const std::string additional_pointer = child_pointer(pointer, "additionalProperties");
        if (additional != nullptr && !additional->is_boolean() && !additional->is_object()) {
            fail(additional_pointer, "expected a boolean or a schema, found " + describe(*additional));
        }
        // {"type": "object"} alone is any object; with "properties" (even empty) or "allOf",
        // additional properties are allowed only when said so (as in llama.cpp).
        const bool has_properties = schema.contains("properties") || schema.contains("allOf");
        if (!has_properties && (additional == nullptr || *additional == true)) {
            if (!required_names.empty()) {
                fail(required_names[0].second, "expected \"" + required_names[0].first +
                                                   "\" among the properties, found no properties");
            }
            return add_builtin("object");
        }
        std::set<std::string> required;
        for (const auto& [key, at] : required_names) {
            const auto declared = std::find_if(properties.begin(), properties.end(),
                                               [&](const Property& p) { return p.name == key; });
            if (declared == properties.end()) {
                fail(at, "expected a property declared in \"properties\", found \"" + key + "\"");
            }
            if (*declared->schema == false)
                fail(at, "property \"" + key + "\" is required but its schema is false");
            required.insert(key);
        }

        const std::vector<std::string> saved = std::exchange(bare_refs_, {});
        const std::string space = add_builtin("space");
        // key-value rules: required ones first, then optional ones, each in schema order.
        std::vector<std::string> required_kvs;
        std::vector<std::pair<std::string, std::string>> optional_kvs;  // property name, rule
        std::vector<std::string> names;
        for (const Property& property : properties) {
            names.push_back(Json(property.name).dump().substr(1));
            names.back().pop_back();
            if (*property.schema == false) continue;  // never present
            const std::string base = child_name(name, property.name);
            const std::string value = rule(*property.schema, base, property.pointer);
            const std::string kv = add_rule(base + "-kv", literal(Json(property.name).dump()) + " " + space +
                                                              " \":\" " + space + " " + value);
            if (required.count(property.name) != 0) {
                required_kvs.push_back(kv);
            } else {
                optional_kvs.emplace_back(property.name, kv);
            }
        }
        std::string additional_kv;
        if (additional != nullptr && *additional != false) {
            const std::string base = child_name(name, "additional");
            const std::string value = rule(*additional, base + "-value", additional_pointer);
            std::string key = add_builtin("string");
            if (!names.empty()) {
                add_builtin("char");
                key = add_rule(base + "-key", "\"\\\"\" " + group(string_tail_except(names)) + " " + space);
            }
            additional_kv = add_rule(base + "-kv", key + " \":\" " + space + " " + value);
        }
        bare_refs_ = saved;

        std::string body = "\"{\" " + space;
        for (size_t i = 0; i < required_kvs.size(); ++i)
            body += (i > 0 ? " \",\" " + space + " " : " ") + required_kvs[i];
        // Optional members in order, any of them left out: the first present one, then
        // what may follow it (a rule per position, "name-after-prop").
        const std::string comma = "\",\" " + space + " ";
        const std::string extras = additional_kv.empty() ? "" : "( " + comma + additional_kv + " )*";
        std::vector<std::string> firsts;
        std::string after = extras;  // what may follow the optional member at i
        for (size_t i = optional_kvs.size(); i-- > 0;) {
            firsts.push_back(optional_kvs[i].second + (after.empty() ? "" : " " + after));
            const std::string tail =
                "( " + comma + optional_kvs[i].second + " )?" + (after.empty() ? "" : " " + after);
            after = i == 0 ? "" : add_rule(child_name(name, "after-" + optional_kvs[i - 1].first), tail);
        }
        std::reverse(firsts.begin(), firsts.end());
        if (!additional_kv.empty()) firsts.push_back(additional_kv + " " + extras);
        if (!firsts.empty()) {
            std::string choice;
            for (const std::string& first : firsts) choice += (choice.empty() ? "" : " | ") + first;
            body += required_kvs.empty() ? " ( " + choice + " )?" : " ( " + comma + group(choice) + " )?";
        }
        return body + " \"}\" " + space;
    }

    int depth_ = 0;  // schemas being converted, one inside the other
    std::vector<std::pair<std::string, std::string>> rules_;  // name, body; root first
    std::map<std::string, size_t> index_;                     // name -> rules_ index
    std::map<std::string, std::string> refs_;                 // target pointer -> rule name
    // $ref targets entered since the last object or array: one entered again is a cycle
    // that consumes no text.
    std::vector<std::string> bare_refs_;
};

}  // namespace

std::string json_schema_to_grammar(std::string_view schema_json, const std::string& source) {
    Json schema;
    try {
        schema = Json::parse(schema_json);
    } catch (const Json::parse_error& e) {
        std::string what = e.what();
        const size_t bracket = what.find("] ");
        if (what.rfind("[json.exception", 0) == 0 && bracket != std::string::npos)
            what = what.substr(bracket + 2);
        throw Error(source + ": invalid JSON schema: " + what);
    }
    return Converter(schema, source).run();
}

}  // namespace llamux
