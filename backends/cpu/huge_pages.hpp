// Memory for the CPU backend's large, long-lived arrays (weights it holds, KV cache,
// activations): anonymous mappings, zero pages until first written (a KV cache sized for
// the whole context costs nothing until tokens fill it), and on request in transparent huge
// pages: a token's GEMV streams every weight once, missing the TLB once per 4 KiB page or
// once per 2 MiB huge page (docs/performance.md, "Memory: lazily zeroed buffers, and
// weights in huge pages"). Under AddressSanitizer the heap stands in, so that its red
// zones still catch overruns.
#pragma once

#include <cstddef>

namespace llamux::cpu {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// True unless /sys/kernel/mm/transparent_hugepage/enabled says [never] (or the system has no
// such file). "madvise" counts: HugePageMemory asks for them. Read once per process.
bool huge_pages_available();

// Zero-filled anonymous memory, pages mapped on first touch. Blocks of at least
// kHugePageBytes start on a huge-page boundary and, when `huge` and huge_pages_available(),
// are advised MADV_HUGEPAGE; smaller ones get ordinary pages. Move-only; the destructor
// unmaps.
class HugePageMemory {
public:
    HugePageMemory() = default;
    // Empty (data() == nullptr) when the system refuses the memory; never throws.
    static HugePageMemory allocate(size_t bytes, bool huge);

    HugePageMemory(HugePageMemory&& other) noexcept;
    HugePageMemory& operator=(HugePageMemory&& other) noexcept;
    HugePageMemory(const HugePageMemory&) = delete;
    HugePageMemory& operator=(const HugePageMemory&) = delete;
    ~HugePageMemory();

    std::byte* data() const { return data_; }
    size_t size() const { return size_; }

private:
    HugePageMemory(std::byte* data, size_t size) : data_(data), size_(size) {}
    std::byte* data_ = nullptr;
    size_t size_ = 0;  // bytes mapped at data_ (a whole number of pages)
};

}  // namespace llamux::cpu
