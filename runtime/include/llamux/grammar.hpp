// GBNF grammars (llama.cpp's format, as at c392e50): the parser, the matcher that follows a
// text through a grammar, and the vocabulary filter that says which tokens may come next.
//
// GBNF in short: `name ::= alternatives` rules (names [a-zA-Z0-9-]+), `|` between
// alternatives, "literals" and [character classes] with escapes \n \r \t \\ \" \[ \] \xHH
// \uHHHH \UHHHHHHHH, [^negated] classes, `.` for any character, ( groups ), postfix `*`
// `+` `?` `{m}` `{m,}` `{m,n}` `{,n}`, `#` comments to the end of the line. A newline ends
// a rule except inside parentheses or right after `::=` or `|`. Text is matched as Unicode
// code points decoded from UTF-8.
//
// Building is done once (parse_grammar, GrammarVocab); following a text is cheap and
// repeated (GrammarState::advance, GrammarVocab::allowed).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llamux {

// A parsed grammar: rules, character sets and the start rule. Immutable once built, so one
// grammar may be shared (shared_ptr) by any number of states on any threads.
class Grammar;

// Parses GBNF text. `source` names the text in error messages (a file path, "--grammar");
// `root` is the start rule. Throws llamux::Error with "source:line:column: what" (column in
// characters, both from 1) for a syntax error (with what was expected and what was found),
// a reference to an undefined rule, a rule defined twice, a missing start rule, left
// recursion (naming the rules of the cycle), an empty grammar, an empty character class
// or range, repetition counts {m,n} with n < m or above 100000, and a repetition that
// would expand to more than 4M symbols.
std::shared_ptr<const Grammar> parse_grammar(std::string_view text, const std::string& source,
                                             std::string_view root = "root");

// A GBNF text for a JSON text (RFC 8259) whose top-level value is an object, starting at
// its "{", with optional whitespace between tokens and after it (as llama-cpp-python's
// response_format {"type": "json_object"}). Each run of whitespace is at most 40 characters, so a model
// cannot loop on blank space forever. The returned string lives for the whole program.
const std::string& json_grammar();

// Where a parse stands after some text: the set of llama.cpp parse stacks plus the bytes of
// an unfinished UTF-8 character. A value: copying it copies the stacks (small vectors) and
// shares the grammar, which it keeps alive. Not safe to modify from two threads at once;
// distinct copies are independent.
class GrammarState {
public:
    // The state before any text. Throws Error when `grammar` is null.
    explicit GrammarState(std::shared_ptr<const Grammar> grammar);

    // Would appending `bytes` keep at least one parse alive? `bytes` may end inside a UTF-8
    // character: it is then alive when some parse can continue with some character that
    // starts with these bytes. Invalid UTF-8 (a stray continuation byte, a lead byte C0, C1,
    // F5..FF, an overlong or surrogate sequence) and NUL bytes are never accepted. Empty
    // `bytes`: true.
    bool accepts(std::string_view bytes) const;
    // Appends `bytes`; throws Error (naming the bytes) and leaves the state unchanged when
    // !accepts(bytes).
    void advance(std::string_view bytes);
    // The text so far is a whole sentence of the grammar: the end of the text is allowed
    // here (never in the middle of a UTF-8 character).
    bool complete() const;

    const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }

private:
    friend class GrammarVocab;

    std::shared_ptr<const Grammar> grammar_;
    // The parse stacks, one after another, each as [length, bottom ... top]: symbol indices
    // into the grammar's symbols. An empty stack (length 0) is a finished parse.
    std::vector<uint32_t> stacks_;
    uint32_t partial_value_ = 0;  // the bits of an unfinished UTF-8 character so far
    uint8_t partial_remain_ = 0;  // continuation bytes it still needs (0: none pending)
    uint8_t partial_length_ = 0;  // its whole length in bytes (2..4)
};

// Which tokens of a vocabulary may come next under a grammar. Built once per vocabulary
// (a byte trie of the token texts), then shared read-only: allows() and allowed() are const
// and safe to call from several threads at once (allowed() keeps per-thread scratch memory).
class GrammarVocab {
public:
    // token_bytes[id]: the bytes token id appends to the text (empty: never allowed, e.g.
    // control tokens). end_tokens: ids that end the text (EOS), allowed exactly where the
    // state is complete(); their bytes are ignored. Throws Error for an end token outside
    // [0, token_bytes.size()).
    GrammarVocab(std::vector<std::string> token_bytes, std::vector<int32_t> end_tokens);

    int32_t n_vocab() const { return static_cast<int32_t>(token_bytes_.size()); }
    // The bytes of token `id`, as given to the constructor (valid as long as this object).
    // Throws Error for an id outside [0, n_vocab()).
    const std::string& bytes(int32_t id) const;
    // May token `id` come next? Throws Error for an id outside [0, n_vocab()).
    bool allows(const GrammarState& state, int32_t id) const;
    // out[id] = 1 for every token allowed next, 0 otherwise; out is resized to n_vocab().
    void allowed(const GrammarState& state, std::vector<uint8_t>& out) const;

private:
    // The trie in pre-order: a node's subtree is the nodes after it up to subtree_end.
    struct TrieNode {
        uint32_t subtree_end;   // one past the last node of this node's subtree
        uint32_t tokens_begin;  // the tokens whose bytes end here: trie_tokens_[begin, end)
        uint32_t tokens_end;
        uint16_t depth;         // bytes from the root: 1 for the first byte of a token
        uint8_t byte;           // the byte on the edge into this node
    };

    std::vector<std::string> token_bytes_;
    std::vector<int32_t> end_tokens_;
    std::vector<uint8_t> is_end_;          // per id: 1 for an end token
    std::vector<TrieNode> trie_;           // the root is implicit (depth 0)
    std::vector<int32_t> trie_tokens_;     // token ids, grouped by trie node
    uint16_t max_depth_ = 0;
};

}  // namespace llamux
