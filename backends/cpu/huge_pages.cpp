#include "huge_pages.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

// The heap stands in for anonymous mappings off Linux, and under AddressSanitizer so that
// accesses past a buffer are still caught (a mapping has no red zones).
#if !defined(__linux__) || defined(__SANITIZE_ADDRESS__)
#define LLAMUX_HEAP_MEMORY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LLAMUX_HEAP_MEMORY 1
#endif
#endif

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace llamux::cpu {

bool huge_pages_available() {
#if defined(__linux__)
    static const bool available = [] {
        std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
        std::string modes;
        return std::getline(file, modes) && modes.find("[never]") == std::string::npos;
    }();
    return available;
#else
    return false;
#endif
}

#if !defined(LLAMUX_HEAP_MEMORY)
HugePageMemory HugePageMemory::allocate(size_t bytes, bool huge) {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t size = (std::max<size_t>(bytes, 1) + page - 1) / page * page;
    if (size < kHugePageBytes) {
        void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return {};
        return HugePageMemory(static_cast<std::byte*>(p), size);
    }
    // Map a huge page more than needed, then unmap what lies before the first boundary and
    // after the end, so that the block starts on a boundary.
    const size_t reserved = size + kHugePageBytes;
    void* p = mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return {};
    const auto base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t start = (base + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
    if (start > base) munmap(p, start - base);
    const uintptr_t tail = start + size, end = base + reserved;
    if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
    auto* data = reinterpret_cast<std::byte*>(start);
    if (huge && huge_pages_available()) madvise(data, size, MADV_HUGEPAGE);  // advice only
    return HugePageMemory(data, size);
}

HugePageMemory::~HugePageMemory() {
    if (data_) munmap(data_, size_);
}
#else
HugePageMemory HugePageMemory::allocate(size_t bytes, bool) {
    const size_t align = bytes >= kHugePageBytes ? kHugePageBytes : 64;
    const size_t size = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void* p = nullptr;
    if (posix_memalign(&p, align, size) != 0) return {};
    std::memset(p, 0, size);
    return HugePageMemory(static_cast<std::byte*>(p), size);
}

HugePageMemory::~HugePageMemory() { std::free(data_); }
#endif

HugePageMemory::HugePageMemory(HugePageMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HugePageMemory& HugePageMemory::operator=(HugePageMemory&& other) noexcept {
    if (this != &other) {
        HugePageMemory old(std::move(*this));
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

}  // namespace llamux::cpu
