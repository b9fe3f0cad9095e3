// GBNF text to rules: a recursive-descent parser over the text with llama.cpp's syntax
// (c392e50, llama_grammar_parser), repetitions rewritten into helper rules as llama.cpp
// does, then the checks: undefined rules, the start rule, left recursion.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "grammar_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar.hpp"

namespace llamux {
namespace {

using grammar_detail::CharSet;
using grammar_detail::kMaxCodePoint;
using grammar_detail::Symbol;
using grammar_detail::SymbolKind;
using Sequence = std::vector<Symbol>;
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

constexpr size_t kNone = static_cast<size_t>(-1);
constexpr uint32_t kMaxRepetition = 100000;
constexpr uint64_t kMaxExpansion = 1u << 22;  // symbols one repetition may expand to
// The parser and the matcher recurse once per nested group and per leftmost rule reference:
// bounds far beyond real grammars that keep a hostile one from overflowing the stack.
constexpr int kMaxNesting = 256;          // groups inside groups
constexpr uint32_t kMaxLeftChain = 1000;  // rules reached through leftmost references

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Sorted, merged (touching ranges joined), optionally complemented over [0, U+10FFFF].
CharSet make_charset(Ranges ranges, bool negated) {
    std::sort(ranges.begin(), ranges.end());
    Ranges merged;
    for (const auto& [lo, hi] : ranges) {
        if (lo > kMaxCodePoint) continue;
        const uint32_t h = std::min(hi, kMaxCodePoint);
        if (!merged.empty() && lo <= merged.back().second + 1) {
            merged.back().second = std::max(merged.back().second, h);
        } else {
            merged.emplace_back(lo, h);
        }
    }
    CharSet set;
    if (negated) {
        uint32_t next = 0;
        for (const auto& [lo, hi] : merged) {
            if (lo > next) set.ranges.emplace_back(next, lo - 1);
            next = hi + 1;
        }
        if (next <= kMaxCodePoint) set.ranges.emplace_back(next, kMaxCodePoint);
    } else {
        set.ranges = std::move(merged);
    }
    for (const auto& [lo, hi] : set.ranges) {
        for (uint32_t c = lo; c <= hi && c < 128; ++c) set.ascii[c >> 6] |= uint64_t{1} << (c & 63);
    }
    return set;
}

class Parser {
public:
    Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    std::shared_ptr<const Grammar> parse(std::string_view root);

private:
    struct RuleInfo {
        std::string name;
        bool defined = false;
        size_t at = kNone;           // where it is defined (or, if never, first referenced)
        std::vector<Sequence> alternatives;
    };

    [[noreturn]] void fail(size_t at, const std::string& what) const;
    std::string found() const;  // the text at pos_, for "expected X, found Y"
    char peek(size_t ahead = 0) const {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    bool at_end() const { return pos_ >= text_.size(); }

    void skip_space(bool newline_ok);
    std::string_view parse_name();
    void parse_rule();
    std::vector<Sequence> parse_alternates(const std::string& rule_name, bool nested);
    Sequence parse_sequence(const std::string& rule_name, bool nested);
    void parse_literal(Sequence& seq);
    void parse_class(Sequence& seq);
    void parse_repetition(Sequence& seq, size_t item_start, const std::string& rule_name,
                          bool nested);
    uint32_t parse_count();
    uint32_t parse_char();
    uint32_t parse_hex(size_t digits);

    uint32_t rule_id(std::string_view name, size_t at);  // a named rule, created on first use
    uint32_t new_rule(const std::string& name, size_t at);
    uint32_t charset_id(CharSet set);
    void check_left_recursion() const;
    std::shared_ptr<const Grammar> build(uint32_t root) const;

    std::string_view text_;
    const std::string& source_;
    size_t pos_ = 0;
    int nesting_ = 0;  // groups open at pos_
    std::vector<RuleInfo> rules_;
    std::unordered_map<std::string, uint32_t> ids_;
    std::vector<CharSet> charsets_;
    std::map<Ranges, uint32_t> charset_ids_;
};

void Parser::fail(size_t at, const std::string& what) const {
    at = std::min(at, text_.size());
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; ++i) {
        if (text_[i] == '\n') {
            ++line, col = 1;
        } else if ((static_cast<uint8_t>(text_[i]) & 0xC0) != 0x80) {
            ++col;
        }
    }
    throw Error(source_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + what);
}

std::string Parser::found() const {
    if (at_end()) return "the end of the text";
    const char c = text_[pos_];
    if (c == '\n' || c == '\r') return "the end of the line";
    const auto b = static_cast<uint8_t>(c);
    if (b < 0x20 || b == 0x7F) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02X", b);
        return buf;
    }
    size_t n = 1;
    while (pos_ + n < text_.size() && (static_cast<uint8_t>(text_[pos_ + n]) & 0xC0) == 0x80) ++n;
    return "'" + std::string(text_.substr(pos_, n)) + "'";
}

void Parser::skip_space(bool newline_ok) {
    while (!at_end()) {
        const char c = text_[pos_];
        if (c == '#') {
            while (!at_end() && text_[pos_] != '\n' && text_[pos_] != '\r') ++pos_;
        } else if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            ++pos_;
        } else {
            break;
        }
    }
}

std::string_view Parser::parse_name() {
    const size_t start = pos_;
    while (!at_end() && is_name_char(text_[pos_])) ++pos_;
    if (pos_ == start) fail(pos_, "expected a rule name, found " + found());
    return text_.substr(start, pos_ - start);
}

uint32_t Parser::rule_id(std::string_view name, size_t at) {
    const auto [it, added] = ids_.emplace(std::string(name), static_cast<uint32_t>(rules_.size()));
    if (added) new_rule(std::string(name), at);
    return it->second;
}

uint32_t Parser::new_rule(const std::string& name, size_t at) {
    rules_.push_back(RuleInfo{name, false, at, {}});
    return static_cast<uint32_t>(rules_.size() - 1);
}

uint32_t Parser::charset_id(CharSet set) {
    const auto [it, added] =
        charset_ids_.emplace(set.ranges, static_cast<uint32_t>(charsets_.size()));
    if (added) charsets_.push_back(std::move(set));
    return it->second;
}

// name ::= alternates (newline | end)
void Parser::parse_rule() {
    const size_t start = pos_;
    const std::string name(parse_name());
    skip_space(false);
    if (text_.substr(pos_, 3) != "::=") {
        fail(pos_, "expected '::=' after the rule name '" + name + "', found " + found());
    }
    pos_ += 3;
    skip_space(true);
    const uint32_t id = rule_id(name, start);
    if (rules_[id].defined) {
        fail(start, "rule '" + name + "' is defined twice");
    }
    // Marked before the body is parsed: a body may refer to its own rule.
    rules_[id].defined = true;
    rules_[id].at = start;
    auto alternatives = parse_alternates(name, false);
    rules_[id].alternatives = std::move(alternatives);
    if (peek() == '\r') {
        pos_ += peek(1) == '\n' ? 2 : 1;
    } else if (peek() == '\n') {
        ++pos_;
    } else if (!at_end()) {
        fail(pos_, "expected a newline or the end of the text after rule '" + name + "', found " +
                       found());
    }
    skip_space(true);
}

// sequence ('|' sequence)*; a newline may follow '|'.
std::vector<Sequence> Parser::parse_alternates(const std::string& rule_name, bool nested) {
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence(rule_name, nested));
    while (peek() == '|') {
        ++pos_;
        skip_space(true);
        alternatives.push_back(parse_sequence(rule_name, nested));
    }
    return alternatives;
}

// Items up to something that is not an item ('|', ')', a newline outside parentheses...).
Sequence Parser::parse_sequence(const std::string& rule_name, bool nested) {
    Sequence seq;
    size_t item_start = kNone;  // where the last item's symbols begin, for repetitions
    while (!at_end()) {
        const char c = text_[pos_];
        const size_t start = pos_;
        if (c == '"') {
            item_start = seq.size();
            parse_literal(seq);
        } else if (c == '[') {
            item_start = seq.size();
            parse_class(seq);
        } else if (is_name_char(c)) {
            const std::string_view name = parse_name();
            item_start = seq.size();
            seq.push_back({SymbolKind::Ref, rule_id(name, start)});
        } else if (c == '(') {
            if (++nesting_ > kMaxNesting) {
                fail(start, "groups nested more than " + std::to_string(kMaxNesting) + " deep");
            }
            ++pos_;
            skip_space(true);
            const uint32_t id = new_rule(rule_name, start);
            auto alternatives = parse_alternates(rule_name, true);
            --nesting_;
            rules_[id].alternatives = std::move(alternatives);
            rules_[id].defined = true;
            if (peek() != ')') fail(pos_, "expected ')' to close the group, found " + found());
            ++pos_;
            item_start = seq.size();
            seq.push_back({SymbolKind::Ref, id});
        } else if (c == '.') {
            ++pos_;
            item_start = seq.size();
            seq.push_back({SymbolKind::Char, charset_id(make_charset({{0, kMaxCodePoint}}, false))});
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (item_start == kNone || item_start == seq.size()) {
                fail(pos_, std::string("expected an item before '") + c + "'");
            }
            // As in llama.cpp, the item stays: "a"+* repeats ("a" "a"*).
            parse_repetition(seq, item_start, rule_name, nested);
            continue;
        } else {
            break;
        }
        skip_space(nested);
    }
    return seq;
}

void Parser::parse_literal(Sequence& seq) {
    const size_t start = pos_++;
    while (peek() != '"') {
        if (at_end()) fail(start, "unterminated string literal: expected '\"' before the end of the text");
        const uint32_t cp = parse_char();
        seq.push_back({SymbolKind::Char, charset_id(make_charset({{cp, cp}}, false))});
    }
    ++pos_;
}

void Parser::parse_class(Sequence& seq) {
    const size_t start = pos_++;
    const bool negated = peek() == '^';
    if (negated) ++pos_;
    Ranges ranges;
    while (peek() != ']') {
        if (at_end()) fail(start, "unterminated character class: expected ']' before the end of the text");
        const size_t item = pos_;
        const uint32_t lo = parse_char();
        uint32_t hi = lo;
        if (peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
            ++pos_;
            hi = parse_char();
            if (hi < lo) fail(item, "empty character range: its end is below its start");
        }
        ranges.emplace_back(lo, hi);
    }
    ++pos_;
    if (ranges.empty()) fail(start, "empty character class");
    seq.push_back({SymbolKind::Char, charset_id(make_charset(std::move(ranges), negated))});
}

// One character of a literal or class: an escape or a UTF-8 character of the text.
uint32_t Parser::parse_char() {
    const size_t start = pos_;
    if (text_[pos_] == '\\') {
        if (pos_ + 1 >= text_.size()) fail(start, "unfinished escape at the end of the text");
        const char e = text_[pos_ + 1];
        pos_ += 2;
        switch (e) {
            case 'x': return parse_hex(2);
            case 'u': return parse_hex(4);
            case 'U': return parse_hex(8);
            case 't': return '\t';
            case 'r': return '\r';
            case 'n': return '\n';
            case '\\': case '"': case '[': case ']': return static_cast<uint8_t>(e);
            default:
                fail(start, "unknown escape: expected one of \\n \\r \\t \\\\ \\\" \\[ \\] \\x \\u \\U, found '\\" +
                                std::string(1, e) + "'");
        }
    }
    const auto first = static_cast<uint8_t>(text_[pos_]);
    if (first < 0x80) {
        ++pos_;
        return first;
    }
    grammar_detail::Utf8Decoder dec;
    uint32_t cp = 0;
    while (true) {
        if (at_end()) fail(start, "invalid UTF-8 in the grammar text");
        const auto r = dec.feed(static_cast<uint8_t>(text_[pos_]), cp);
        if (r == dec.Invalid) fail(start, "invalid UTF-8 in the grammar text");
        ++pos_;
        if (r == dec.Done) return cp;
    }
}

uint32_t Parser::parse_hex(size_t digits) {
    const size_t start = pos_;
    uint32_t value = 0;
    for (size_t i = 0; i < digits; ++i) {
        const int h = hex_value(peek());
        if (h < 0) {
            fail(start, "expected " + std::to_string(digits) + " hex digits in the escape, found " + found());
        }
        value = value << 4 | static_cast<uint32_t>(h);
        ++pos_;
    }
    return value;
}

uint32_t Parser::parse_count() {
    const size_t start = pos_;
    uint64_t value = 0;
    while (is_digit(peek())) {
        value = value * 10 + static_cast<uint64_t>(peek() - '0');
        if (value > kMaxRepetition) {
            fail(start, "repetition count above " + std::to_string(kMaxRepetition));
        }
        ++pos_;
    }
    return static_cast<uint32_t>(value);
}

// The postfix operators, rewritten as llama.cpp does:
//   S{m,n} -> S ... S (m times) R(n-m), R(1) ::= S | "", R(k) ::= S R(k-1) | ""
//   S{m,}  -> S ... S (m times) R,      R ::= S R | ""
// with * = {0,}, + = {1,}, ? = {0,1}, {m} = {m,m}, {,n} = {0,n}.
void Parser::parse_repetition(Sequence& seq, size_t item_start, const std::string& rule_name,
                              bool nested) {
    const size_t op_at = pos_;
    const char op = text_[pos_++];
    uint32_t min = 0;
    bool bounded = false;
    uint32_t max = 0;
    if (op == '+') {
        min = 1;
    } else if (op == '?') {
        bounded = true, max = 1;
    } else if (op == '{') {
        skip_space(nested);
        const bool has_min = is_digit(peek());
        if (has_min) min = parse_count();
        skip_space(nested);
        if (has_min && peek() == '}') {
            bounded = true, max = min;
        } else if (peek() == ',') {
            ++pos_;
            skip_space(nested);
            if (is_digit(peek())) {
                bounded = true;
                max = parse_count();
                skip_space(nested);
            }
            if (peek() != '}') fail(pos_, "expected '}' to close the repetition, found " + found());
        } else {
            fail(pos_, std::string(has_min ? "expected ',' or '}'" : "expected a number or ','") +
                           " in the repetition, found " + found());
        }
        ++pos_;
        if (bounded && max < min) {
            fail(op_at, "repetition {" + std::to_string(min) + "," + std::to_string(max) +
                            "}: the maximum is below the minimum");
        }
    }
    skip_space(nested);

    const Sequence item(seq.begin() + static_cast<std::ptrdiff_t>(item_start), seq.end());
    if (uint64_t{std::max(min, max)} * item.size() > kMaxExpansion) {
        fail(op_at, "repetition too large: more than " + std::to_string(kMaxExpansion) +
                        " symbols once expanded");
    }
    seq.resize(item_start);
    for (uint32_t i = 0; i < min; ++i) seq.insert(seq.end(), item.begin(), item.end());
    if (!bounded) {
        const uint32_t r = new_rule(rule_name, op_at);
        Sequence again(item);
        again.push_back({SymbolKind::Ref, r});
        rules_[r].alternatives = {std::move(again), {}};
        rules_[r].defined = true;
        seq.push_back({SymbolKind::Ref, r});
        return;
    }
    uint32_t previous = 0;
    for (uint32_t k = 1; k <= max - min; ++k) {
        const uint32_t r = new_rule(rule_name, op_at);
        Sequence body(item);
        if (k > 1) body.push_back({SymbolKind::Ref, previous});
        rules_[r].alternatives = {std::move(body), {}};
        rules_[r].defined = true;
        previous = r;
    }
    if (max > min) seq.push_back({SymbolKind::Ref, previous});
}

// Left recursion: a rule that can reach itself through leftmost references, each preceded
// only by rules that can match the empty text. Refused, as llama.cpp does, since the stack
// expansion would never end; the message names the rules of the cycle.
void Parser::check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < n; ++r) {
            if (nullable[r]) continue;
            for (const Sequence& alt : rules_[r].alternatives) {
                const bool empty = std::all_of(alt.begin(), alt.end(), [&](const Symbol& s) {
                    return s.kind == SymbolKind::Ref && nullable[s.value];
                });
                if (empty) {
                    nullable[r] = changed = true;
                    break;
                }
            }
        }
    }
    std::vector<std::vector<uint32_t>> left(n);  // the rules each rule may start with
    for (size_t r = 0; r < n; ++r) {
        for (const Sequence& alt : rules_[r].alternatives) {
            for (const Symbol& s : alt) {
                if (s.kind != SymbolKind::Ref) break;
                left[r].push_back(s.value);
                if (!nullable[s.value]) break;
            }
        }
    }
    // Iterative depth-first search (repetitions can make long chains of rules). chain[r]:
    // the longest run of leftmost references from r, which the matcher follows recursively.
    enum : uint8_t { kNew, kOnPath, kDone };
    std::vector<uint8_t> mark(n, kNew);
    std::vector<uint32_t> chain(n, 0);
    std::vector<std::pair<uint32_t, size_t>> path;  // rule, next edge to follow
    for (uint32_t start = 0; start < n; ++start) {
        if (mark[start] != kNew) continue;
        path.emplace_back(start, 0);
        mark[start] = kOnPath;
        while (!path.empty()) {
            auto& [r, edge] = path.back();
            if (edge == left[r].size()) {
                mark[r] = kDone;
                for (const uint32_t to : left[r]) chain[r] = std::max(chain[r], chain[to] + 1);
                if (chain[r] > kMaxLeftChain) {
                    fail(rules_[r].at, "rule '" + rules_[r].name + "' starts with a chain of more than " +
                                           std::to_string(kMaxLeftChain) + " rule references");
                }
                path.pop_back();
                continue;
            }
            const uint32_t to = left[r][edge++];
            if (mark[to] == kNew) {
                mark[to] = kOnPath;
                path.emplace_back(to, 0);
            } else if (mark[to] == kOnPath) {
                std::string cycle, last;
                size_t i = 0;
                while (path[i].first != to) ++i;
                for (; i < path.size(); ++i) {
                    const std::string& name = rules_[path[i].first].name;
                    if (name != last) cycle += (cycle.empty() ? "" : " -> ") + name;
                    last = name;
                }
                fail(rules_[to].at, "left recursion in rule '" + rules_[to].name + "' (" + cycle +
                                        " -> " + rules_[to].name + "): not supported");
            }
        }
    }
}

std::shared_ptr<const Grammar> Parser::build(uint32_t root) const {
    auto g = std::make_shared<Grammar>();
    g->charsets = charsets_;
    g->root = root;
    for (const RuleInfo& info : rules_) {
        grammar_detail::Rule rule{info.name, {}};
        for (const Sequence& alt : info.alternatives) {
            rule.alternatives.push_back(static_cast<uint32_t>(g->symbols.size()));
            g->symbols.insert(g->symbols.end(), alt.begin(), alt.end());
            g->symbols.push_back({SymbolKind::End, 0});
        }
        g->rules.push_back(std::move(rule));
    }
    return g;
}

std::shared_ptr<const Grammar> Parser::parse(std::string_view root) {
    skip_space(true);
    if (at_end()) fail(pos_, "empty grammar: expected at least one rule 'name ::= ...'");
    while (!at_end()) parse_rule();
    for (const RuleInfo& rule : rules_) {
        if (!rule.defined) fail(rule.at, "undefined rule '" + rule.name + "'");
    }
    const auto it = ids_.find(std::string(root));
    if (it == ids_.end()) {
        fail(0, "no rule named '" + std::string(root) + "' (the start rule)");
    }
    check_left_recursion();
    return build(it->second);
}

}  // namespace

std::shared_ptr<const Grammar> parse_grammar(std::string_view text, const std::string& source,
                                             std::string_view root) {
    return Parser(text, source).parse(root);
}

}  // namespace llamux
