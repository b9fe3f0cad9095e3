// The CPU backend's weights: read in place from the model's mapping, or made resident in the
// backend's own memory when the first program that multiplies with them is compiled:
// repacked (TypeKernels::packed_gemv: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 on AVX2 and above,
// Q5_0 and Q5_1 not with AMX), or, with
// LLAMUX_CPU_HUGE_PAGES=1, copied as they are (a weight of at least one huge page); with
// that knob both go into huge pages where the system has them.
// The copy goes to weight->extra and every matmul path reads it; the original stays where
// it is (get_rows of a tied token embedding still reads it) but its pages leave this
// process's memory.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "cpu_backend.hpp"
#include "cpu_tensor.hpp"
#include "llamux/quant_blocks.hpp"

namespace llamux::cpu {
namespace {

const PackedGemvKernels* packer_for(const CpuBackend& backend, const lmx_tensor& w) {
    const auto type = static_cast<DType>(w.dtype);
    const TypeKernels* k = kernels_for(type, backend.isa);
    if (!k || !k->packed_gemv) return nullptr;
    const auto row = row_bytes(type, w.ne[0]);
    const bool matrix = w.ne[1] >= kPackedRows && w.ne[1] % kPackedRows == 0 && w.ne[2] == 1 &&
                        w.ne[3] == 1;
    if (!row || !matrix || w.nb[0] != info(type).type_size || w.nb[1] < *row) return nullptr;
    return k->packed_gemv;
}

// Weights without a repacked form copied into huge pages when asked: those that fill at
// least one.
bool copies(const CpuBackend& backend, const lmx_tensor& w) {
    return backend.huge_pages && byte_extent(w) >= kHugePageBytes;
}

// True if [begin, end) lies in one mapping of a file (inode != 0 in /proc/self/maps).
bool in_file_mapping(uintptr_t begin, uintptr_t end) {
#if defined(__linux__)
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        unsigned long lo = 0, hi = 0, offset = 0, inode = 0;
        char perms[8] = {}, dev[16] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &offset, dev,
                        &inode) != 6) {
            continue;
        }
        if (begin >= lo && end <= hi) return inode != 0;
    }
#else
    (void)begin;
    (void)end;
#endif
    return false;
}

// The whole pages inside [data, data + bytes), if any.
struct PageSpan {
    uintptr_t begin = 0, end = 0;
    bool empty() const { return end <= begin; }
};
PageSpan whole_pages(const void* data, size_t bytes) {
#if defined(__linux__)
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    return {(reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1),
            (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1)};
#else
    (void)data;
    (void)bytes;
    return {};
#endif
}

// A resident weight's original is not read by matmuls again: drop its pages from this
// process's memory. Only where it is a file mapping (the model file, as prepare_weight is
// promised; the caller checks): its pages stay in the page cache and come back on a later
// access. Heap memory (tests) and a model read with --no-mmap (anonymous memory) must be
// left alone, since MADV_DONTNEED would zero it.
void release_pages(PageSpan span) {
#if defined(__linux__)
    if (span.empty()) return;
    // A model loaded with --mlock has its mapping locked, and locked pages cannot be dropped:
    // unlock the original first (the copy is what matmuls read; it is anonymous memory).
    munlock(reinterpret_cast<void*>(span.begin), span.end - span.begin);
    madvise(reinterpret_cast<void*>(span.begin), span.end - span.begin, MADV_DONTNEED);
#else
    (void)span;
#endif
}

// Bytes of the original processed between two releases of its pages, about: keeps the
// original and its copy from being resident together for a whole large matrix (the output
// head) while loading.
constexpr size_t kSliceBytes = 8u << 20;
// Pieces of a plain copy that the threads share.
constexpr size_t kCopyUnitBytes = 256u << 10;

// Runs work(u0, u1) over units [0, n_units) of unit_bytes of the original at src each, on
// the pool, a slice at a time, releasing each slice's pages after it when `releasable`.
template <typename Work>
void in_slices(CpuBackend& backend, const std::byte* src, int64_t n_units, size_t unit_bytes,
               size_t src_bytes, bool releasable, Work&& work) {
    const int64_t slice = std::max<int64_t>(1, static_cast<int64_t>(kSliceBytes / unit_bytes));
    for (int64_t s0 = 0; s0 < n_units; s0 += slice) {
        const int64_t s1 = std::min(n_units, s0 + slice);
        const int64_t n_chunks = std::min<int64_t>(s1 - s0, 4 * static_cast<int64_t>(backend.pool->size()));
        backend.pool->for_chunks(n_chunks, [&](int64_t chunk, int) {
            const auto [c0, c1] = chunk_range(s1 - s0, chunk, n_chunks);
            work(s0 + c0, s0 + c1);
        });
        if (releasable) {
            const size_t begin = static_cast<size_t>(s0) * unit_bytes;
            const size_t end = std::min(src_bytes, static_cast<size_t>(s1) * unit_bytes);
            release_pages(whole_pages(src + begin, end - begin));
        }
    }
}

// Makes w resident: its rows repacked by p, or copied when p is null, into w.extra. False
// (w.extra untouched) when memory ran out.
bool make_resident(CpuBackend& backend, const PackedGemvKernels* p, lmx_tensor& w) {
    const auto* src = static_cast<const std::byte*>(w.data);
    const size_t src_bytes = byte_extent(w);
    const int64_t n = w.ne[0], rows = w.ne[1];
    auto copy = std::make_unique<ResidentWeight>();
    copy->memory =
        HugePageMemory::allocate(p ? p->bytes(n, rows) : src_bytes, backend.huge_pages);
    if (!copy->memory.data()) return false;  // not fatal: the original serves every path
    copy->repacked = p != nullptr;
    std::byte* dst = copy->memory.data();
    const PageSpan all = whole_pages(src, src_bytes);
    const bool releasable = !all.empty() && in_file_mapping(all.begin, all.end);
    if (p) {
        const size_t group_bytes = static_cast<size_t>(kPackedRows) * w.nb[1];
        in_slices(backend, src, rows / kPackedRows, group_bytes, src_bytes, releasable,
                  [&](int64_t g0, int64_t g1) {
                      p->repack(n, src + static_cast<size_t>(g0) * group_bytes, w.nb[1],
                                (g1 - g0) * kPackedRows, dst + p->bytes(n, g0 * kPackedRows));
                  });
    } else {
        const auto n_units =
            static_cast<int64_t>((src_bytes + kCopyUnitBytes - 1) / kCopyUnitBytes);
        in_slices(backend, src, n_units, kCopyUnitBytes, src_bytes, releasable,
                  [&](int64_t u0, int64_t u1) {
                      const size_t begin = static_cast<size_t>(u0) * kCopyUnitBytes;
                      const size_t end =
                          std::min(src_bytes, static_cast<size_t>(u1) * kCopyUnitBytes);
                      std::memcpy(dst + begin, src + begin, end - begin);
                  });
    }
    w.extra = copy.release();
    if (releasable) release_pages(all);  // the pages that straddled two slices
    return true;
}

// Maps the pages of a weight now (page tables filled, file read ahead) so that the first
// token does not pay a page fault every few kilobytes of a file-backed mapping. Advice only:
// failures (an old kernel, memory that is not a mapping) change nothing.
void prefault(const void* data, size_t bytes) {
#if defined(__linux__)
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
    const auto end = reinterpret_cast<uintptr_t>(data) + bytes;
    void* start = reinterpret_cast<void*>(begin);
#if defined(MADV_POPULATE_READ)
    if (madvise(start, end - begin, MADV_POPULATE_READ) == 0) return;
#endif
    madvise(start, end - begin, MADV_WILLNEED);
#else
    (void)data;
    (void)bytes;
#endif
}

}  // namespace

void prepare_weight(CpuBackend& backend, lmx_tensor& w, const void* host_data) {
    w.data = const_cast<void*>(host_data);  // the mapping; a resident copy goes to w.extra
    w.extra = nullptr;
    if (packer_for(backend, w) != nullptr || copies(backend, w)) {
        backend.resident_pending.insert(&w);  // its pages come in when it is copied
    } else {
        prefault(host_data, byte_extent(w));
    }
}

void make_resident_for_matmuls(CpuBackend& backend, const lmx_node* nodes, int32_t n) {
    if (backend.resident_pending.empty()) return;
    for (int32_t i = 0; i < n; ++i) {
        if (nodes[i].op != LMX_OP_MATMUL || nodes[i].src[0] == nullptr) continue;
        const auto it = backend.resident_pending.find(nodes[i].src[0]);
        if (it == backend.resident_pending.end()) continue;
        auto& w = const_cast<lmx_tensor&>(*nodes[i].src[0]);  // prepared by this backend
        backend.resident_pending.erase(it);
        if (!make_resident(backend, packer_for(backend, w), w)) prefault(w.data, byte_extent(w));
    }
}

void release_weight(CpuBackend& backend, lmx_tensor& w) {
    backend.resident_pending.erase(&w);
    delete static_cast<ResidentWeight*>(w.extra);
    w.extra = nullptr;
    w.data = nullptr;
}

}  // namespace llamux::cpu
