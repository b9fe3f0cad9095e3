// Which tokens may come next: one walk over a byte trie of the token texts, each trie node
// reached with the parse state after its bytes, subtrees pruned as soon as no parse
// survives. The stack sets met during a walk are interned, and the transition of each
// (stack set, code point) pair is computed once: in the middle of a JSON string almost every
// character leads back to the same set, so most trie nodes cost a table lookup.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "grammar_internal.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar.hpp"

namespace llamux {
namespace {

using grammar_detail::Utf8Decoder;

constexpr int32_t kUnknown = -2;  // transition not computed yet
constexpr int32_t kDead = -1;     // no parse survives

uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

// The distinct stack sets of one walk, their ids and their transitions. Cleared, not freed,
// between walks: after the first walks on a thread it allocates nothing.
class StateTable {
public:
    void reset() {
        data_.clear();
        begin_.assign(1, 0);
        hash_.clear();
        ascii_.clear();
        if (slots_.empty()) slots_.resize(256);
        std::fill(slots_.begin(), slots_.end(), -1);
        if (other_keys_.empty()) other_keys_.resize(1024), other_values_.resize(1024);
        std::fill(other_keys_.begin(), other_keys_.end(), 0);
        other_count_ = 0;
    }

    const uint32_t* stacks(int32_t id) const { return data_.data() + begin_[id]; }
    size_t size(int32_t id) const { return begin_[id + 1] - begin_[id]; }

    // The id of this stack set, added when new.
    int32_t intern(const uint32_t* stacks, size_t size) {
        uint64_t h = size;
        for (size_t i = 0; i < size; ++i) h = mix(h ^ stacks[i]) + i;
        const size_t mask = slots_.size() - 1;
        for (size_t s = h & mask;; s = (s + 1) & mask) {
            const int32_t id = slots_[s];
            if (id < 0) break;
            if (hash_[id] == h && this->size(id) == size &&
                std::equal(stacks, stacks + size, this->stacks(id))) {
                return id;
            }
        }
        const auto id = static_cast<int32_t>(hash_.size());
        data_.insert(data_.end(), stacks, stacks + size);
        begin_.push_back(static_cast<uint32_t>(data_.size()));
        hash_.push_back(h);
        ascii_.resize(ascii_.size() + 128, kUnknown);
        if (hash_.size() * 2 > slots_.size()) {
            slots_.assign(slots_.size() * 2, -1);
            for (int32_t i = 0; i <= id; ++i) place(i);
        } else {
            place(id);
        }
        return id;
    }

    // The transition slot of (id, code point): kUnknown until set. Valid until intern().
    int32_t& transition(int32_t id, uint32_t cp) {
        if (cp < 128) return ascii_[static_cast<size_t>(id) * 128 + cp];
        const uint64_t key = (static_cast<uint64_t>(id) << 21 | cp) + 1;  // 0: empty slot
        if ((other_count_ + 1) * 2 > other_keys_.size()) grow_other();
        const size_t mask = other_keys_.size() - 1;
        size_t s = mix(key) & mask;
        while (other_keys_[s] != 0 && other_keys_[s] != key) s = (s + 1) & mask;
        if (other_keys_[s] == 0) {
            other_keys_[s] = key;
            other_values_[s] = kUnknown;
            ++other_count_;
        }
        return other_values_[s];
    }

private:
    void place(int32_t id) {
        const size_t mask = slots_.size() - 1;
        size_t s = hash_[id] & mask;
        while (slots_[s] >= 0) s = (s + 1) & mask;
        slots_[s] = id;
    }

    void grow_other() {
        std::vector<uint64_t> keys(other_keys_.size() * 2, 0);
        std::vector<int32_t> values(keys.size());
        const size_t mask = keys.size() - 1;
        for (size_t i = 0; i < other_keys_.size(); ++i) {
            if (other_keys_[i] == 0) continue;
            size_t s = mix(other_keys_[i]) & mask;
            while (keys[s] != 0) s = (s + 1) & mask;
            keys[s] = other_keys_[i];
            values[s] = other_values_[i];
        }
        other_keys_.swap(keys);
        other_values_.swap(values);
    }

    std::vector<uint32_t> data_;   // every set's flat stacks, one after another
    std::vector<uint32_t> begin_;  // set id -> offset in data_ (one more entry at the end)
    std::vector<uint64_t> hash_;   // set id -> hash
    std::vector<int32_t> slots_;   // open addressing: set ids by hash, -1 empty
    std::vector<int32_t> ascii_;   // set id * 128 + ASCII code point -> next set id
    std::vector<uint64_t> other_keys_;  // open addressing: (set id, code point) + 1, 0 empty
    std::vector<int32_t> other_values_;
    size_t other_count_ = 0;
};

// Where the walk stands at a trie node: a stack set and an unfinished character.
struct WalkState {
    int32_t set = 0;
    Utf8Decoder dec;
};

// Per-thread scratch of allowed(): kept between calls so the walk does not allocate.
struct Walker {
    StateTable table;
    std::vector<WalkState> levels;  // the state at each depth of the current trie path
    std::vector<uint32_t> next, work;

    // The set after code point `cp` from set `from`, or kDead.
    int32_t step(const Grammar& g, int32_t from, uint32_t cp) {
        const int32_t known = table.transition(from, cp);
        if (known != kUnknown) return known;
        next.clear();
        int32_t to = kDead;
        if (grammar_detail::step_stacks(g, table.stacks(from), table.size(from), cp, next, work)) {
            to = table.intern(next.data(), next.size());
        }
        table.transition(from, cp) = to;  // looked up again: intern() may have moved it
        return to;
    }

    // `to` := `from` after one more byte; false when no parse survives it.
    bool feed(const Grammar& g, const WalkState& from, uint8_t byte, WalkState& to) {
        to.dec = from.dec;
        uint32_t cp = 0;
        switch (to.dec.feed(byte, cp)) {
            case Utf8Decoder::Invalid: return false;
            case Utf8Decoder::Partial: {
                to.set = from.set;
                uint32_t lo = 0, hi = 0;
                to.dec.completions(lo, hi);
                return grammar_detail::stacks_accept_range(g, table.stacks(to.set),
                                                           table.size(to.set), lo, hi);
            }
            case Utf8Decoder::Done: to.set = step(g, from.set, cp); return to.set != kDead;
        }
        return false;
    }
};

}  // namespace

GrammarVocab::GrammarVocab(std::vector<std::string> token_bytes, std::vector<int32_t> end_tokens)
    : token_bytes_(std::move(token_bytes)),
      end_tokens_(std::move(end_tokens)),
      is_end_(token_bytes_.size(), 0) {
    for (const int32_t id : end_tokens_) {
        if (id < 0 || static_cast<size_t>(id) >= token_bytes_.size()) {
            throw Error("GrammarVocab: end token " + std::to_string(id) + " is outside [0, " +
                        std::to_string(token_bytes_.size()) + ")");
        }
        is_end_[id] = 1;
    }
    std::vector<int32_t> order;
    for (size_t id = 0; id < token_bytes_.size(); ++id) {
        if (token_bytes_[id].empty() || is_end_[id]) continue;
        if (token_bytes_[id].size() > 0xFFFF) {
            throw Error("GrammarVocab: token " + std::to_string(id) + " has " +
                        std::to_string(token_bytes_[id].size()) + " bytes, at most 65535 supported");
        }
        order.push_back(static_cast<int32_t>(id));
    }
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return token_bytes_[a] < token_bytes_[b]; });

    // Sorted texts build the trie in pre-order: a text shares its common prefix with the
    // previous one; the nodes below that prefix are finished.
    std::vector<uint32_t> open;  // the nodes of the current path, by depth - 1
    std::string_view previous;
    for (const int32_t id : order) {
        const std::string_view text = token_bytes_[id];
        size_t common = 0;
        while (common < previous.size() && common < text.size() && previous[common] == text[common]) {
            ++common;
        }
        for (; open.size() > common; open.pop_back()) {
            trie_[open.back()].subtree_end = static_cast<uint32_t>(trie_.size());
        }
        for (size_t d = common; d < text.size(); ++d) {
            const auto tokens = static_cast<uint32_t>(trie_tokens_.size());
            open.push_back(static_cast<uint32_t>(trie_.size()));
            trie_.push_back({0, tokens, tokens, static_cast<uint16_t>(d + 1),
                             static_cast<uint8_t>(text[d])});
        }
        trie_tokens_.push_back(id);
        trie_[open.back()].tokens_end = static_cast<uint32_t>(trie_tokens_.size());
        max_depth_ = std::max(max_depth_, static_cast<uint16_t>(text.size()));
        previous = text;
    }
    for (; !open.empty(); open.pop_back()) {
        trie_[open.back()].subtree_end = static_cast<uint32_t>(trie_.size());
    }
}

const std::string& GrammarVocab::bytes(int32_t id) const {
    if (id < 0 || id >= n_vocab()) {
        throw Error("GrammarVocab: token " + std::to_string(id) + " is outside [0, " +
                    std::to_string(n_vocab()) + ")");
    }
    return token_bytes_[static_cast<size_t>(id)];
}

bool GrammarVocab::allows(const GrammarState& state, int32_t id) const {
    const std::string& text = bytes(id);
    if (is_end_[static_cast<size_t>(id)]) return state.complete();
    return !text.empty() && state.accepts(text);
}

void GrammarVocab::allowed(const GrammarState& state, std::vector<uint8_t>& out) const {
    out.assign(token_bytes_.size(), 0);
    const Grammar& g = *state.grammar_;
    thread_local Walker walker;
    walker.table.reset();
    walker.levels.resize(static_cast<size_t>(max_depth_) + 1);
    WalkState& root = walker.levels[0];
    root.set = walker.table.intern(state.stacks_.data(), state.stacks_.size());
    root.dec = Utf8Decoder{state.partial_value_, state.partial_remain_, state.partial_length_};

    for (size_t i = 0; i < trie_.size();) {
        const TrieNode& node = trie_[i];
        if (!walker.feed(g, walker.levels[node.depth - 1], node.byte, walker.levels[node.depth])) {
            i = node.subtree_end;  // no token below can be allowed either
            continue;
        }
        for (uint32_t t = node.tokens_begin; t < node.tokens_end; ++t) out[trie_tokens_[t]] = 1;
        ++i;
    }
    const uint8_t end_allowed = state.complete() ? 1 : 0;
    for (const int32_t id : end_tokens_) out[id] = end_allowed;
}

}  // namespace llamux
