// The GBNF matcher: llama.cpp's set of parse stacks, advanced code point by code point,
// with the bytes of an unfinished UTF-8 character held until it is complete.
#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "grammar_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar.hpp"

namespace llamux {
namespace grammar_detail {

bool CharSet::intersects(uint32_t lo, uint32_t hi) const {
    // The first range that ends at or after lo; it meets [lo, hi] if it starts by hi.
    const auto it = std::lower_bound(ranges.begin(), ranges.end(), lo,
                                     [](const std::pair<uint32_t, uint32_t>& r, uint32_t v) {
                                         return r.second < v;
                                     });
    return it != ranges.end() && it->first <= hi;
}

Utf8Decoder::Result Utf8Decoder::feed(uint8_t byte, uint32_t& cp) {
    if (remain == 0) {
        if (byte == 0) return Invalid;
        if (byte < 0x80) {
            cp = byte;
            return Done;
        }
        if (byte < 0xC2) return Invalid;  // a continuation byte, or an overlong C0/C1 lead
        if (byte < 0xE0) {
            value = byte & 0x1F, remain = 1, length = 2;
        } else if (byte < 0xF0) {
            value = byte & 0x0F, remain = 2, length = 3;
        } else if (byte < 0xF5) {
            value = byte & 0x07, remain = 3, length = 4;
        } else {
            return Invalid;
        }
        return Partial;
    }
    if ((byte & 0xC0) != 0x80) return Invalid;
    if (remain + 1 == length) {
        // The second byte decides overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4).
        if (length == 3 && ((value == 0 && byte < 0xA0) || (value == 0xD && byte >= 0xA0))) {
            return Invalid;
        }
        if (length == 4 && ((value == 0 && byte < 0x90) || (value == 4 && byte >= 0x90))) {
            return Invalid;
        }
    }
    value = (value << 6) | (byte & 0x3F);
    if (--remain > 0) return Partial;
    cp = value;
    return Done;
}

void Utf8Decoder::completions(uint32_t& lo, uint32_t& hi) const {
    static constexpr uint32_t kMinOfLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    const uint32_t bits = 6u * remain;
    lo = std::max(value << bits, kMinOfLength[length]);
    hi = std::min((value << bits) | ((1u << bits) - 1), kMaxCodePoint);
    if (length == 3 && remain == 2 && value == 0xD) hi = 0xD7FF;  // ED: below the surrogates
}

namespace {

// Bounds on what one step may build, so that a hostile grammar (thousands of optional items
// in a row, or one so ambiguous that parses multiply) gets an error instead of overflowing
// the stack or running for hours. Real grammars stay far below both.
constexpr size_t kMaxStacks = 10000;       // parses alive at once
constexpr size_t kMaxStackWords = 1 << 20; // their symbols, all together
constexpr int kMaxExpandDepth = 2000;      // rule references expanded in one go

[[noreturn]] void too_many_parses(const std::string& what) {
    throw Error("grammar: more than " + what + " alive at once (an ambiguous or very long grammar)");
}

// Appends the stack in `work` to `out` (duplicates are removed afterwards, by dedup_stacks).
void emit_stack(const std::vector<uint32_t>& work, std::vector<uint32_t>& out) {
    if (out.size() + work.size() + 1 > kMaxStackWords) {
        too_many_parses(std::to_string(kMaxStackWords) + " symbols of parses");
    }
    out.push_back(static_cast<uint32_t>(work.size()));
    out.insert(out.end(), work.begin(), work.end());
}

// Keeps the first of equal stacks, in their order: sorting their offsets by content makes
// this O(n log n), where comparing each new stack with all before it was O(n^2) (thousands
// of parses for some grammars).
void dedup_stacks(std::vector<uint32_t>& stacks) {
    std::vector<size_t> at;  // each stack's offset
    for (size_t i = 0; i < stacks.size(); i += 1 + stacks[i]) at.push_back(i);
    if (at.size() < 2) return;
    const auto begin = [&](size_t i) { return stacks.begin() + static_cast<std::ptrdiff_t>(i); };
    const auto end = [&](size_t i) { return begin(i) + 1 + stacks[i]; };
    std::vector<size_t> order = at;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return std::lexicographical_compare(begin(a), end(a), begin(b), end(b));
    });
    std::vector<uint8_t> keep(stacks.size(), 0);  // by offset
    for (size_t k = 0; k < order.size(); ++k) {
        keep[order[k]] = k == 0 || !std::equal(begin(order[k - 1]), end(order[k - 1]), begin(order[k]), end(order[k]));
    }
    std::vector<uint32_t> out;
    out.reserve(stacks.size());
    size_t count = 0;
    for (const size_t i : at) {
        if (!keep[i]) continue;
        if (++count > kMaxStacks) too_many_parses(std::to_string(kMaxStacks) + " parses");
        out.insert(out.end(), begin(i), end(i));
    }
    stacks.swap(out);
}

// Replaces a rule reference on top of `work` by each of the rule's alternatives until every
// stack has a character set on top (or is empty), appending those to `out`. Leaves `work`
// as it found it. Terminates because the parser refuses left recursion.
void expand(const Grammar& g, std::vector<uint32_t>& work, std::vector<uint32_t>& out, int depth = 0) {
    if (work.empty() || g.symbols[work.back()].kind == SymbolKind::Char) {
        emit_stack(work, out);
        return;
    }
    if (depth > kMaxExpandDepth) {
        throw Error("grammar: more than " + std::to_string(kMaxExpandDepth) +
                    " rule references (or optional items in a row) to expand at one point");
    }
    const uint32_t top = work.back();
    work.pop_back();
    const size_t base = work.size();
    const bool has_next = g.symbols[top + 1].kind != SymbolKind::End;
    for (const uint32_t alt : g.rules[g.symbols[top].value].alternatives) {
        work.resize(base);
        if (has_next) work.push_back(top + 1);
        if (g.symbols[alt].kind != SymbolKind::End) work.push_back(alt);
        expand(g, work, out, depth + 1);
    }
    work.resize(base);
    work.push_back(top);
}

}  // namespace

void initial_stacks(const Grammar& g, std::vector<uint32_t>& out) {
    std::vector<uint32_t> work;
    for (const uint32_t alt : g.rules[g.root].alternatives) {
        work.clear();
        if (g.symbols[alt].kind != SymbolKind::End) work.push_back(alt);
        expand(g, work, out);
    }
    dedup_stacks(out);
}

bool step_stacks(const Grammar& g, const uint32_t* stacks, size_t size, uint32_t cp,
                 std::vector<uint32_t>& out, std::vector<uint32_t>& work) {
    for (size_t i = 0; i < size; i += 1 + stacks[i]) {
        const uint32_t n = stacks[i];
        if (n == 0) continue;
        const uint32_t top = stacks[i + n];
        if (!g.charsets[g.symbols[top].value].contains(cp)) continue;
        work.assign(stacks + i + 1, stacks + i + n);
        if (g.symbols[top + 1].kind != SymbolKind::End) work.push_back(top + 1);
        expand(g, work, out);
    }
    dedup_stacks(out);
    return !out.empty();
}

bool stacks_accept_range(const Grammar& g, const uint32_t* stacks, size_t size, uint32_t lo,
                         uint32_t hi) {
    for (size_t i = 0; i < size; i += 1 + stacks[i]) {
        const uint32_t n = stacks[i];
        if (n > 0 && g.charsets[g.symbols[stacks[i + n]].value].intersects(lo, hi)) return true;
    }
    return false;
}

bool stacks_have_empty(const uint32_t* stacks, size_t size) {
    for (size_t i = 0; i < size; i += 1 + stacks[i]) {
        if (stacks[i] == 0) return true;
    }
    return false;
}

}  // namespace grammar_detail

namespace {

using grammar_detail::Utf8Decoder;

// Runs `bytes` through the stacks `cur` and the decoder `dec` (both updated in place).
// False as soon as no parse survives.
bool run_bytes(const Grammar& g, std::string_view bytes, std::vector<uint32_t>& cur,
               Utf8Decoder& dec) {
    std::vector<uint32_t> next, work;
    for (const char c : bytes) {
        uint32_t cp = 0;
        switch (dec.feed(static_cast<uint8_t>(c), cp)) {
            case Utf8Decoder::Invalid: return false;
            case Utf8Decoder::Partial: break;
            case Utf8Decoder::Done:
                next.clear();
                if (!grammar_detail::step_stacks(g, cur.data(), cur.size(), cp, next, work)) {
                    return false;
                }
                cur.swap(next);
                break;
        }
    }
    if (dec.remain == 0) return true;
    uint32_t lo = 0, hi = 0;
    dec.completions(lo, hi);
    return grammar_detail::stacks_accept_range(g, cur.data(), cur.size(), lo, hi);
}

std::string printable(std::string_view bytes) {
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<uint8_t>(c);
        if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
            out += c;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", b);
            out += buf;
        }
    }
    return out;
}

}  // namespace

GrammarState::GrammarState(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
    if (!grammar_) throw Error("GrammarState: the grammar is null");
    grammar_detail::initial_stacks(*grammar_, stacks_);
}

bool GrammarState::accepts(std::string_view bytes) const {
    std::vector<uint32_t> cur(stacks_);
    Utf8Decoder dec{partial_value_, partial_remain_, partial_length_};
    return run_bytes(*grammar_, bytes, cur, dec);
}

void GrammarState::advance(std::string_view bytes) {
    std::vector<uint32_t> cur(stacks_);
    Utf8Decoder dec{partial_value_, partial_remain_, partial_length_};
    if (!run_bytes(*grammar_, bytes, cur, dec)) {
        throw Error("grammar: the text cannot continue with \"" + printable(bytes) + "\"");
    }
    stacks_.swap(cur);
    partial_value_ = dec.value;
    partial_remain_ = dec.remain;
    partial_length_ = dec.length;
}

bool GrammarState::complete() const {
    return partial_remain_ == 0 && grammar_detail::stacks_have_empty(stacks_.data(), stacks_.size());
}

}  // namespace llamux
