#include "memory_planner.hpp"

namespace llamux {
namespace {

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

}  // namespace

size_t MemoryPlanner::allocate(size_t bytes, size_t alignment) {
    const size_t size = round_up(bytes == 0 ? 1 : bytes, alignment);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->second < size) continue;
        const size_t offset = it->first;
        const size_t rest = it->second - size;
        free_.erase(it);
        if (rest) free_[offset + size] = rest;
        return offset;
    }
    // Grow: a free range ending at end_ is extended rather than left as a hole.
    size_t offset = end_;
    if (!free_.empty()) {
        auto last = std::prev(free_.end());
        if (last->first + last->second == end_) {
            offset = last->first;
            free_.erase(last);
        }
    }
    end_ = offset + size;
    if (end_ > peak_) peak_ = end_;
    return offset;
}

void MemoryPlanner::release(size_t offset, size_t bytes, size_t alignment) {
    size_t size = round_up(bytes == 0 ? 1 : bytes, alignment);
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && offset + size == next->first) {
        size += next->second;
        next = free_.erase(next);
    }
    if (next != free_.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == offset) {
            prev->second += size;
            return;
        }
    }
    free_[offset] = size;
}

}  // namespace llamux
