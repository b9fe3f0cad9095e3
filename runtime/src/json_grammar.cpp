// A GBNF grammar for JSON (RFC 8259) whose top-level value is an object.
#include <string>

#include "llamux/grammar.hpp"

namespace llamux {

const std::string& json_grammar() {
    // Whitespace sits after each token, never in front of one, so every text has exactly one
    // parse and the matcher keeps few stacks. None before the object either (as llama.cpp's
    // json.gbnf): a model that likes blank lines would otherwise spend tokens on them.
    static const std::string text = R"gbnf(# JSON text whose top-level value is an object (RFC 8259).
root     ::= object ws

value    ::= object | array | string | number | "true" | "false" | "null"

object   ::= "{" ws ( member ( "," ws member )* )? "}"
member   ::= string ws ":" ws value ws

array    ::= "[" ws ( element ( "," ws element )* )? "]"
element  ::= value ws

# Any character but the quote, the backslash and the controls U+0000..U+001F, or an escape.
string   ::= "\"" char* "\""
char     ::= [^"\\\x00-\x1F] | "\\" escape
escape   ::= ["\\/bfnrt] | "u" hex hex hex hex
hex      ::= [0-9a-fA-F]

number   ::= "-"? integer fraction? exponent?
integer  ::= "0" | [1-9] [0-9]*
fraction ::= "." [0-9]+
exponent ::= [eE] [-+]? [0-9]+

# At most 40 characters per run, so that a model cannot emit blank space forever.
ws       ::= [ \t\n\r]{0,40}
)gbnf";
    return text;
}

}  // namespace llamux
