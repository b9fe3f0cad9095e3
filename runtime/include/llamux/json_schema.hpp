// JSON Schema -> GBNF: a grammar whose sentences are the JSON texts a schema accepts, for
// constrained generation (llama.cpp's `-j/--json-schema`, llama-cpp-python's
// response_format {"type": "json_object", "schema": ...}). Feed the result to
// parse_grammar() (grammar.hpp).
//
// Supported keywords (the language follows llama.cpp's converter; differences below):
//   type          "object", "array", "string", "number", "integer", "boolean", "null", or a
//                 list of them (alternatives; the other keywords apply to each). Without
//                 "type" the kind is taken from the keywords present (properties,
//                 additionalProperties, required or allOf: object; items, prefixItems,
//                 minItems or maxItems: array; minLength, maxLength or a known format:
//                 string; minimum/maximum family: number), else any JSON value.
//   object        properties (in schema order), required, additionalProperties (true, false
//                 or a schema; absent means false when there are properties, as in
//                 llama.cpp; {"type": "object"} alone is any object). Members come in a
//                 fixed order: the required properties in schema order, then the optional
//                 ones in schema order (each may be left out), then additional properties
//                 (names other than the declared ones).
//   array         items (a schema, true, false, or a list as in draft 7: a tuple),
//                 prefixItems (a tuple: every prefix item is required, as in llama.cpp;
//                 "items" then says what may follow), minItems, maxItems.
//   string        minLength, maxLength (in characters, an escape counts as one), format
//                 "date", "time", "date-time", "uuid" (other formats are annotations and
//                 ignored; a format takes precedence over the lengths).
//   integer       minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft 4 booleans
//                 too). Integers have at most 16 digits, as in llama.cpp.
//   number        minimum and the like are ignored (as llama.cpp does).
//   enum, const   any JSON values, matched exactly in compact form (no inner whitespace).
//   anyOf, oneOf  alternatives (oneOf is not made exclusive).
//   allOf         of object schemas (or $refs to them): properties and required merged;
//                 the outer schema's additionalProperties applies (the components' are
//                 ignored). A lone component beside annotations is that schema.
//   $ref          local only: "#", "#/$defs/...", "#/definitions/...", any "#/json/pointer";
//                 recursion is allowed through an object or an array.
//   {} or true    any JSON value.
// Annotations (title, description, default, examples, $schema, $id, $comment, ...) and
// unknown keywords are ignored.
//
// Whitespace: after every token, optionally one space or a newline and at most 20 spaces or
// tabs, as llama.cpp allows, so a model cannot emit blank space forever. No whitespace before
// the top-level value.
//
// Differences from llama.cpp's converter: what it ignores or half-supports is an error here
// (pattern, keywords beside $ref/anyOf, allOf components that are not objects); {} is any
// value (llama.cpp: any object), as is a schema with only annotations (llama.cpp: error);
// allOf takes "required" from each component (llama.cpp requires every property of a
// component); minItems/maxItems apply to arrays without "items" and "items" after
// prefixItems may add elements (llama.cpp ignores both); an additional property may be
// named by a proper prefix of a declared name ("a" beside "ab"; llama.cpp rejects it); time
// fractions of 1 to 9 digits (llama.cpp: exactly 3), exponents with leading zeros and "\/"
// escapes in strings are accepted, as JSON allows.
//
// Rule names come from property names (`address-city-kv`, `tags-item`, `$defs` names for
// refs), so the grammar is readable; the output is deterministic: `root` first, then the
// rules in the order they were made.
#pragma once

#include <string>
#include <string_view>

namespace llamux {

// Converts the JSON text of a schema to GBNF text with a `root` rule. `source` names the
// schema in error messages ("-j", "response_format.schema", a file path).
//
// Throws llamux::Error "source: at #/json/pointer: what, expected ..., found ..." for:
// invalid JSON (with the parser's position instead of a pointer); a schema that is not an
// object or a boolean, or the schema `false` where a value is needed; a keyword whose value
// has the wrong shape (e.g. "required" not a list of strings); an unknown type name;
// keywords that would change the language but are not supported (pattern,
// patternProperties, propertyNames, not, if/then/else, dependentRequired,
// dependentSchemas, dependencies, minProperties, maxProperties, uniqueItems: true,
// contains, minContains, maxContains, unevaluatedProperties, unevaluatedItems, multipleOf,
// additionalItems, $dynamicRef, $recursiveRef); validation keywords beside $ref, anyOf or
// oneOf ("type" there is ignored, as in llama.cpp); allOf components other than object
// schemas; a required property missing from "properties"; a $ref that is not local, does
// not resolve, or that cycles back to itself without an object or array in between; bad
// bounds (negative, minimum above maximum, counts above 100000, integer bounds outside 16
// digits, maxItems below the number of prefixItems).
std::string json_schema_to_grammar(std::string_view schema_json, const std::string& source);

}  // namespace llamux
