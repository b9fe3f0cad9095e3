// The inside of a parsed GBNF grammar and the stack machine that follows text through it,
// shared by the parser (grammar_parser.cpp), the matcher (grammar_state.cpp) and the
// vocabulary filter (grammar_vocab.cpp). Not part of the public interface.
//
// Layout: every alternative of every rule is a run of symbols in Grammar::symbols ending
// with an End symbol. A parse stack holds indices of symbols still to match, the top last:
// the top is always a Char symbol (a character set), or the stack is empty (a finished
// parse). This is llama.cpp's pushdown scheme; a state is a set of such stacks.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "llamux/grammar.hpp"

namespace llamux {

namespace grammar_detail {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

enum class SymbolKind : uint8_t { End, Ref, Char };

struct Symbol {
    SymbolKind kind;
    uint32_t value;  // Ref: the rule id; Char: the character set id; End: unused
};

// A set of code points: sorted, disjoint, non-adjacent inclusive ranges (a negated class
// is stored as its complement), with a bitmap for ASCII.
struct CharSet {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    uint64_t ascii[2] = {0, 0};

    bool contains(uint32_t cp) const {
        if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
        return intersects(cp, cp);
    }
    bool intersects(uint32_t lo, uint32_t hi) const;  // any member in [lo, hi]?
};

struct Rule {
    std::string name;                  // as written, or "<parent> (group)" and the like
    std::vector<uint32_t> alternatives;  // index of each alternative's first symbol
};

}  // namespace grammar_detail

class Grammar {
public:
    std::vector<grammar_detail::Rule> rules;
    std::vector<grammar_detail::Symbol> symbols;
    std::vector<grammar_detail::CharSet> charsets;
    uint32_t root = 0;  // the start rule
};

namespace grammar_detail {

// One step of UTF-8 decoding (strict: no overlong forms, surrogates, NUL or code points
// above U+10FFFF).
struct Utf8Decoder {
    uint32_t value = 0;
    uint8_t remain = 0;  // continuation bytes still needed
    uint8_t length = 0;  // of the character being decoded

    enum Result { Invalid, Partial, Done };
    // Feeds one byte; on Done, `cp` is the finished code point.
    Result feed(uint8_t byte, uint32_t& cp);
    // The code points an unfinished character may still become: [lo, hi], valid ones only.
    void completions(uint32_t& lo, uint32_t& hi) const;
};

// Flat stack sets: stacks one after another, each as [length, bottom ... top].

// The stacks before any text: every alternative of the start rule, expanded.
void initial_stacks(const Grammar& g, std::vector<uint32_t>& out);
// The stacks after code point `cp` (appended to `out`, which must start empty); `work` is
// scratch. Returns whether any stack survived.
bool step_stacks(const Grammar& g, const uint32_t* stacks, size_t size, uint32_t cp,
                 std::vector<uint32_t>& out, std::vector<uint32_t>& work);
// Can some stack continue with some character in [lo, hi]?
bool stacks_accept_range(const Grammar& g, const uint32_t* stacks, size_t size, uint32_t lo,
                         uint32_t hi);
// Is one of the stacks empty (a finished parse)?
bool stacks_have_empty(const uint32_t* stacks, size_t size);

}  // namespace grammar_detail
}  // namespace llamux
