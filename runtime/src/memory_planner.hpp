// First-fit offset allocator used to plan activation memory before any buffer exists.
#pragma once

#include <cstddef>
#include <map>

namespace llamux {

class MemoryPlanner {
public:
    // An offset for `bytes` (rounded up to `alignment`), reusing released ranges first.
    size_t allocate(size_t bytes, size_t alignment);
    void release(size_t offset, size_t bytes, size_t alignment);
    size_t peak() const { return peak_; }  // the buffer size this plan needs

private:
    std::map<size_t, size_t> free_;  // offset -> size, coalesced
    size_t end_ = 0;                 // first byte never handed out
    size_t peak_ = 0;
};

}  // namespace llamux
