// JSON Schema -> GBNF: each grammar is parsed with parse_grammar and followed with
// GrammarState over valid documents (accepted in full) and invalid ones (rejected: wrong type,
// missing or extra property, order, lengths, counts, enum values, integer ranges), plus
// recursive $refs, whitespace limits, rule names, and the errors (pointer, expected, found).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/grammar.hpp"
#include "llamux/json_schema.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Grammar> schema_grammar(std::string_view schema) {
    const std::string text = json_schema_to_grammar(schema, "test-schema");
    try {
        return parse_grammar(text, "generated");
    } catch (const Error& e) {
        ADD_FAILURE() << e.what() << "\n" << text;
        throw;
    }
}

// The whole text is a sentence of the grammar.
bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
    GrammarState s(g);
    if (!s.accepts(text)) return false;
    s.advance(text);
    return s.complete();
}

// The message of the Error that converting throws ("" when it converts).
std::string schema_error(std::string_view schema, const std::string& source = "-j") {
    try {
        json_schema_to_grammar(schema, source);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void expect_all(const std::shared_ptr<const Grammar>& g, const std::vector<std::string>& valid,
                const std::vector<std::string>& invalid) {
    for (const std::string& text : valid) EXPECT_TRUE(matches(g, text)) << "should accept: " << text;
    for (const std::string& text : invalid) EXPECT_FALSE(matches(g, text)) << "should reject: " << text;
}

// ---- objects ---------------------------------------------------------------------------

TEST(JsonSchema, ObjectRequiredOptionalAndOrder) {
    const auto g = schema_grammar(R"({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "admin": {"type": "boolean"}
        },
        "required": ["name", "age"]
    })");
    expect_all(
        g,
        {R"({"name":"Ann","age":31})", R"({"name":"Ann","age":31,"email":"a@b.c"})",
         R"({"name":"Ann","age":31,"admin":true})", R"({"name":"Ann","age":0,"email":"","admin":false})",
         R"({ "name": "Ann", "age": 150 } )", "{\n  \"name\": \"Ann\",\n  \"age\": 31\n}"},
        {
            R"({"name":"Ann"})",                                    // missing required
            R"({"age":31})",                                        // missing required
            R"({"name":"Ann","age":"31"})",                         // wrong type
            R"({"name":7,"age":31})",                               // wrong type
            R"({"name":"Ann","age":151})",                          // above maximum
            R"({"name":"Ann","age":-1})",                           // below minimum
            R"({"name":"Ann","age":31,"x":1})",                     // no additional properties
            R"({"age":31,"name":"Ann"})",                           // required in schema order
            R"({"name":"Ann","email":"a","age":31})",               // required ones first
            R"({"name":"Ann","age":31,"admin":true,"email":"a"})",  // optional in order
            R"({"name":"Ann","age":31,})",                          // trailing comma
            R"( {"name":"Ann","age":31})",                          // no space before the value
        });
}

TEST(JsonSchema, AdditionalProperties) {
    const auto typed = schema_grammar(R"({
        "properties": {"a": {"type": "integer"}, "ab": {"type": "integer"}},
        "additionalProperties": {"type": "string"}
    })");
    expect_all(
        typed,
        {R"({"a":1,"b":"x"})", R"({"b":"x","c":"y"})", R"({})", R"({"a":1,"ab":2,"abc":"x","":"y"})",
         R"({"x\"y":"z"})"},
        {R"({"a":1,"b":2})", R"({"a":"x"})", R"({"a":1,"a":"x"})", R"({"ab":"x"})", R"({"b":"x","a":1})"});

    const auto open =
        schema_grammar(R"({"properties": {"a": {"type": "integer"}}, "additionalProperties": true})");
    expect_all(open, {R"({"a":1,"b":[1,{"c":null}]})", R"({"z":false})"},
               {R"({"a":"1"})", R"({"b":1,"a":1})"});

    const auto strict = schema_grammar(
        R"({"properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false})");
    expect_all(strict, {R"({"a":1})"}, {R"({"a":1,"b":2})", R"({"b":2,"a":1})", "{}"});

    const auto closed = schema_grammar(R"({"type": "object", "additionalProperties": false})");
    expect_all(closed, {"{}", "{ }"}, {R"({"a":1})"});

    // With "properties" (even none), additional ones need additionalProperties, as in llama.cpp.
    const auto empty_model = schema_grammar(R"({"type": "object", "properties": {}, "title": "Empty"})");
    expect_all(empty_model, {"{}"}, {R"({"a":1})"});

    const auto any_object = schema_grammar(R"({"type": "object"})");
    expect_all(any_object, {"{}", R"({"a":1,"b":{"c":[true]}})"}, {"[]", "1"});

    const auto map = schema_grammar(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
    expect_all(map, {"{}", R"({"a":1,"b":2})"}, {R"({"a":"x"})"});

    // A property whose schema is false is never present, even as an additional one.
    const auto never =
        schema_grammar(R"({"properties": {"a": false, "b": true}, "additionalProperties": true})");
    expect_all(never, {R"({"b":1})", R"({"c":1})"}, {R"({"a":1})"});
}

TEST(JsonSchema, AllOfMergesObjects) {
    const auto g = schema_grammar(R"({
        "$defs": {"base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
        "allOf": [
            {"$ref": "#/$defs/base"},
            {"properties": {"tag": {"type": "string"}, "note": {"type": "string"}}, "required": ["tag"]}
        ]
    })");
    expect_all(g, {R"({"id":1,"tag":"x"})", R"({"id":1,"tag":"x","note":"n"})"},
               {R"({"tag":"x"})", R"({"id":1})", R"({"id":1,"tag":"x","z":1})"});
    // A lone component stands for itself (pydantic's way to describe a $ref).
    const auto lone = schema_grammar(R"({
        "definitions": {"Color": {"enum": ["red", "blue"]}},
        "properties": {"c": {"allOf": [{"$ref": "#/definitions/Color"}], "description": "the color"}},
        "required": ["c"]
    })");
    expect_all(lone, {R"({"c":"red"})"}, {R"({"c":"green"})"});
}

// ---- arrays ----------------------------------------------------------------------------

TEST(JsonSchema, ArrayCounts) {
    const auto g =
        schema_grammar(R"({"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3})");
    expect_all(g, {"[1]", "[1,2.5,-3e2]", "[ 1, 2 ]", "[0.5,\n 7]"},
               {"[]", "[1,2,3,4]", R"(["a"])", "[1,]", "[01]", "[1.]"});

    const auto at_most_one =
        schema_grammar(R"({"type": "array", "items": {"type": "integer"}, "maxItems": 1})");
    expect_all(at_most_one, {"[]", "[5]"}, {"[5,6]"});

    const auto exactly_two = schema_grammar(R"({"type": "array", "minItems": 2, "maxItems": 2})");
    expect_all(exactly_two, {R"([1,"a"])", R"([{},[]])"}, {"[1]", "[1,2,3]"});

    const auto none = schema_grammar(R"({"type": "array", "items": false})");
    expect_all(none, {"[]"}, {"[1]"});

    const auto any = schema_grammar(R"({"type": "array"})");
    expect_all(any, {"[]", R"([1,"a",null,[{}]])"}, {"{}"});
}

TEST(JsonSchema, Tuples) {
    const auto g = schema_grammar(R"({"prefixItems": [{"type": "string"}, {"type": "integer"}]})");
    expect_all(g, {R"(["a",1])", R"([ "a", 1 ])"}, {R"(["a"])", R"(["a",1,2])", R"([1,"a"])", "[]"});

    const auto more = schema_grammar(
        R"({"prefixItems": [{"type": "string"}], "items": {"type": "boolean"}, "maxItems": 3})");
    expect_all(more, {R"(["a"])", R"(["a",true])", R"(["a",true,false])"},
               {R"(["a",true,true,true])", R"(["a",1])"});

    const auto draft7 = schema_grammar(R"({"type": "array", "items": [{"type": "null"}, {"const": 2}]})");
    expect_all(draft7, {"[null,2]"}, {"[null,3]", "[null]"});
}

// ---- strings, numbers, values ------------------------------------------------------------

TEST(JsonSchema, StringLengthsAndFormats) {
    const auto g = schema_grammar(R"({"type": "string", "minLength": 2, "maxLength": 4})");
    expect_all(g, {R"("ab")", R"("abcd")", R"("a\nb")", R"("\u00e9t\u00e9")", "\"\xC3\xA9t\xC3\xA9\""},
               {R"("a")", R"("abcde")", R"("")", "\"a\nb\"", "12"});

    const auto date = schema_grammar(R"({"type": "string", "format": "date"})");
    expect_all(date, {R"("2024-02-29")"}, {R"("2024-13-01")", R"("2024-1-01")", R"("x")"});
    const auto date_time = schema_grammar(R"({"format": "date-time"})");
    expect_all(date_time, {R"("2024-01-02T03:04:05Z")", R"("2024-01-02T23:59:59.123+05:30")"},
               {R"("2024-01-02 03:04:05Z")", R"("2024-01-02T24:00:00Z")"});
    const auto time = schema_grammar(R"({"type": "string", "format": "time"})");
    expect_all(time, {R"("12:30:00Z")"}, {R"("12:30Z")"});
    const auto uuid = schema_grammar(R"({"type": "string", "format": "uuid"})");
    expect_all(uuid, {R"("123e4567-e89b-12d3-a456-426614174000")"}, {R"("123e4567-e89b-12d3-a456")"});
    // Other formats are annotations: any string.
    const auto email = schema_grammar(R"({"type": "string", "format": "email"})");
    expect_all(email, {R"("not an email")"}, {"1"});
}

TEST(JsonSchema, EnumConstAndTypeLists) {
    const auto g = schema_grammar(R"({"enum": ["red", "green", 1, null, {"a": [1, true]}]})");
    expect_all(g, {R"("red")", R"("green")", "1", "null", R"({"a":[1,true]})", "\"red\" "},
               {R"("blue")", "2", R"("Red")", R"({"a": [1, true]})"});

    const auto constant =
        schema_grammar(R"({"type": "object", "properties": {"v": {"const": "x\"y"}}, "required": ["v"]})");
    expect_all(constant, {R"({"v":"x\"y"})"}, {R"({"v":"x"})"});

    const auto nullable = schema_grammar(R"({"type": ["string", "null"], "maxLength": 2})");
    expect_all(nullable, {R"("ab")", "null"}, {R"("abc")", "1", "nul"});

    const auto number = schema_grammar(R"({"type": "number"})");
    expect_all(number, {"0", "-1.5", "3e10", "2.5E-3"}, {"01", ".5", "1.", "+1", "\"1\""});

    const auto any = schema_grammar("{}");
    expect_all(any, {"5", R"("x")", R"([1,{"a":null}])", "true", "{}"}, {"", "tru", "[1,]"});
    const auto also_any = schema_grammar("true");
    expect_all(also_any, {"null", R"({"a":[]})"}, {"nil"});
}

TEST(JsonSchema, AnyOfAlternatives) {
    const auto g = schema_grammar(R"({
        "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
        "description": "annotations beside anyOf are fine"
    })");
    expect_all(g, {"1", "[1,2]", "[]", "null"}, {"1.5", "[1.5]", R"("1")"});
    const auto one_of = schema_grammar(R"({"oneOf": [{"const": "a"}, {"type": "boolean"}]})");
    expect_all(one_of, {R"("a")", "false"}, {R"("b")"});
}

// Exhaustive over [-1100, 1100] against the bounds.
TEST(JsonSchema, IntegerRanges) {
    struct Case {
        const char* schema;
        std::optional<int> min, max;
    };
    const std::vector<Case> cases = {
        {R"({"type": "integer", "minimum": 0, "maximum": 100})", 0, 100},
        {R"({"type": "integer", "minimum": -15, "maximum": 27})", -15, 27},
        {R"({"type": "integer", "minimum": 123, "maximum": 987})", 123, 987},
        {R"({"type": "integer", "minimum": 7})", 7, std::nullopt},
        {R"({"type": "integer", "minimum": -35})", -35, std::nullopt},
        {R"({"type": "integer", "maximum": -3})", std::nullopt, -3},
        {R"({"type": "integer", "maximum": 250})", std::nullopt, 250},
        {R"({"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 1000})", 10, 999},
        {R"({"type": "integer", "minimum": 1.5, "maximum": 5.5})", 2, 5},
        {R"({"type": "integer", "minimum": -1000, "maximum": -1000})", -1000, -1000},
        {R"({"type": "integer", "minimum": 5, "exclusiveMinimum": true, "maximum": 1009})", 6, 1009},
    };
    for (const Case& c : cases) {
        const auto g = schema_grammar(c.schema);
        for (int n = -1100; n <= 1100; ++n) {
            const bool in = (!c.min || n >= *c.min) && (!c.max || n <= *c.max);
            ASSERT_EQ(matches(g, std::to_string(n)), in) << c.schema << " on " << n;
        }
        EXPECT_FALSE(matches(g, "-0")) << c.schema;
        EXPECT_FALSE(matches(g, "007")) << c.schema;
        EXPECT_FALSE(matches(g, "1.0")) << c.schema;
    }
    const auto big = schema_grammar(R"({"type": "integer", "minimum": 10})");
    expect_all(big, {"9999999999999999", "10"}, {"99999999999999999", "9"});
}

// ---- $ref --------------------------------------------------------------------------------

TEST(JsonSchema, RecursiveTree) {
    const auto g = schema_grammar(R"({
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
                },
                "required": ["value"]
            }
        }
    })");
    expect_all(g,
               {R"({"value":1})", R"({"value":1,"children":[]})",
                R"({"value":1,"children":[{"value":2},{"value":3,"children":[{"value":4,"children":[]}]}]})"},
               {R"({"value":1,"children":[{}]})", R"({"value":1,"children":[{"value":"2"}]})",
                R"({"value":1,"children":{"value":2}})"});

    // The whole schema by "#", through an anyOf.
    const auto list = schema_grammar(R"({
        "type": "object",
        "properties": {"head": {"type": "integer"}, "tail": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["head", "tail"]
    })");
    expect_all(list, {R"({"head":1,"tail":null})", R"({"head":1,"tail":{"head":2,"tail":null}})"},
               {R"({"head":1,"tail":{"head":2}})"});
}

// ---- whitespace and names ------------------------------------------------------------------

TEST(JsonSchema, WhitespaceIsBounded) {
    const auto g =
        schema_grammar(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})");
    const std::string indent20(20, ' ');
    expect_all(g, {"{\"a\": 1}", "{\n" + indent20 + "\"a\":\n\t1\n}", "{\"a\":1}\n"},
               {"{\"a\":  1}", "{\n" + indent20 + " \"a\": 1}", "{\"a\" :\n\n1}", "{\r\n\"a\":1}"});
}

TEST(JsonSchema, RuleNamesAreReadableAndStable) {
    const std::string schema = R"({
        "type": "object",
        "properties": {
            "user_name": {"type": "string", "maxLength": 8},
            "home address": {"type": "object", "properties": {"city": {"type": "string", "minLength": 1}}},
            "string": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
            "note": {"type": "string"}
        }
    })";
    const std::string text = json_schema_to_grammar(schema, "s");
    EXPECT_EQ(text, json_schema_to_grammar(schema, "s"));
    EXPECT_EQ(text.rfind("root ::= ", 0), 0u) << text;
    for (const char* name : {"\nuser-name ::= ", "\nuser-name-kv ::= ", "\nhome-address-city ::= ",
                             "\nhome-address-city-kv ::= ", "\nstring-2 ::= ", "\ntags-item ::= ",
                             "\nafter-user-name ::= ", "\nspace ::= "}) {
        EXPECT_THAT(text, HasSubstr(name)) << text;
    }
    const auto g = parse_grammar(text, "s");
    expect_all(g, {R"({"home address":{"city":"x"},"string":1,"tags":["a"]})", R"({})"},
               {R"({"string":0})", R"({"user_name":"123456789"})", R"({"tags":["c"]})"});
}

// ---- errors ----------------------------------------------------------------------------

TEST(JsonSchemaErrors, InvalidJson) {
    const std::string e = schema_error(R"({"type": "object",})", "response_format.schema");
    EXPECT_THAT(e, HasSubstr("response_format.schema: invalid JSON schema"));
    EXPECT_THAT(e, HasSubstr("line 1, column 19: syntax error while parsing object key"));
    EXPECT_THAT(schema_error("5"),
                HasSubstr("-j: at #: expected a schema (an object or a boolean), found 5"));
    EXPECT_THAT(schema_error("false"), HasSubstr("the schema false matches nothing"));
}

TEST(JsonSchemaErrors, UnknownTypeNamesThePointer) {
    EXPECT_THAT(schema_error(R"({"properties": {"age": {"type": "intger"}}})"),
                HasSubstr("-j: at #/properties/age/type: expected one of \"object\", \"array\", \"string\", "
                          "\"number\", \"integer\", \"boolean\", \"null\", found \"intger\""));
    EXPECT_THAT(schema_error(R"({"type": ["string", 3]})"), HasSubstr("at #/type/1: expected one of"));
    EXPECT_THAT(schema_error(R"({"properties": {"a/b~": {"type": "str"}}})"),
                HasSubstr("at #/properties/a~1b~0/type"));
}

TEST(JsonSchemaErrors, UnsupportedKeywords) {
    EXPECT_THAT(
        schema_error(R"({"properties": {"code": {"type": "string", "pattern": "^[A-Z]+$"}}})"),
        HasSubstr("at #/properties/code/pattern: keyword \"pattern\" (\"^[A-Z]+$\") is not supported"));
    EXPECT_THAT(schema_error(R"({"not": {"type": "null"}})"), HasSubstr("at #/not: keyword \"not\""));
    EXPECT_THAT(schema_error(R"({"items": {"if": {}}})"), HasSubstr("at #/items/if: keyword \"if\""));
    EXPECT_THAT(schema_error(R"({"type": "array", "uniqueItems": true})"), HasSubstr("at #/uniqueItems"));
    EXPECT_EQ(schema_error(R"({"type": "array", "uniqueItems": false, "title": "t", "x-vendor": 1})"), "");
    EXPECT_THAT(schema_error(R"({"$ref": "#/$defs/a", "maxLength": 3, "$defs": {"a": {"type": "string"}}})"),
                HasSubstr("at #/maxLength: keyword \"maxLength\" beside \"$ref\" is not supported"));
    EXPECT_THAT(schema_error(R"({"anyOf": [{"type": "string"}], "required": ["a"]})"),
                HasSubstr("at #/required: keyword \"required\" beside \"anyOf\""));
    EXPECT_THAT(schema_error(R"({"allOf": [{"type": "object"}, {"type": "string"}]})"),
                HasSubstr("at #/allOf/1/type: expected only object keywords in an allOf component"));
    EXPECT_THAT(schema_error(R"({"type": "string", "allOf": [{}, {}]})"),
                HasSubstr("at #/allOf: expected allOf in an object schema"));
}

TEST(JsonSchemaErrors, References) {
    EXPECT_THAT(schema_error(R"({"$ref": "https://example.com/schema.json"})"),
                HasSubstr("at #/$ref: expected a local reference \"#\" or \"#/...\", found "
                          "\"https://example.com/schema.json\""));
    EXPECT_THAT(schema_error(R"({"properties": {"a": {"$ref": "#/$defs/missing"}}, "$defs": {}})"),
                HasSubstr("at #/properties/a/$ref: $ref \"#/$defs/missing\" does not resolve: expected "
                          "\"missing\" in #/$defs"));
    EXPECT_THAT(schema_error(R"({"$ref": "#"})"), HasSubstr("at #/$ref: $ref \"#\" cycles back to itself"));
    EXPECT_THAT(schema_error(R"({"$ref": "#/$defs/a", "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]},
                                  "b": {"$ref": "#/$defs/a"}}})"),
                HasSubstr("at #/$defs/b/$ref: $ref \"#/$defs/a\" cycles back"));
    EXPECT_THAT(schema_error(R"({"$ref": 3})"), HasSubstr("at #/$ref: expected a string, found 3"));
}

TEST(JsonSchemaErrors, BadBounds) {
    EXPECT_THAT(schema_error(R"({"type": "array", "minItems": 3, "maxItems": 2})"),
                HasSubstr("at #/maxItems: expected at least minItems (3), found 2"));
    EXPECT_THAT(schema_error(R"({"type": "string", "minLength": -1})"),
                HasSubstr("at #/minLength: expected a non-negative integer, found -1"));
    EXPECT_THAT(schema_error(R"({"type": "string", "maxLength": 1000000})"),
                HasSubstr("at #/maxLength: expected at most 100000"));
    EXPECT_THAT(schema_error(R"({"type": "string", "maxLength": "5"})"),
                HasSubstr("at #/maxLength: expected a non-negative integer, found \"5\""));
    EXPECT_THAT(schema_error(R"({"type": "integer", "minimum": 5, "maximum": 4})"),
                HasSubstr("at #: expected the minimum (5) at most the maximum, found maximum 4"));
    EXPECT_THAT(schema_error(R"({"type": "integer", "minimum": 1e20})"),
                HasSubstr("at #/minimum: expected a bound within 16 digits"));
    EXPECT_THAT(schema_error(R"({"prefixItems": [{}, {}], "maxItems": 1})"),
                HasSubstr("at #/maxItems: expected at least the 2 tuple items"));
    EXPECT_THAT(schema_error(R"({"properties": {"a": {}}, "required": ["a", "b"]})"),
                HasSubstr("at #/required/1: expected a property declared in \"properties\", found \"b\""));
    EXPECT_THAT(schema_error(R"({"properties": [1]})"),
                HasSubstr("at #/properties: expected an object of schemas, found an array of 1"));
    EXPECT_THAT(schema_error(R"({"enum": []})"), HasSubstr("at #/enum: expected at least one value"));
}

// A hostile schema gets an error, not a stack overflow.
TEST(JsonSchemaErrors, NestingIsBounded) {
    auto nested = [](int depth) {
        std::string s;
        for (int i = 0; i < depth; ++i) s += R"({"type": "array", "items": )";
        return s + "{}" + std::string(static_cast<size_t>(depth), '}');
    };
    EXPECT_NO_THROW(parse_grammar(json_schema_to_grammar(nested(100), "t"), "t"));
    EXPECT_THAT(schema_error(nested(100000)), HasSubstr("schemas nested more than 256 deep"));
}

}  // namespace
}  // namespace llamux
