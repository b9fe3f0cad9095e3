// Weights the CPU backend repacks at load (TypeKernels::packed_gemv: Q4_0, Q4_1 and Q8_0 on
// AVX-512): the copy goes to weight->extra and every matmul path reads it; the original
// stays where it is (get_rows of a token embedding still reads it) but its pages leave this
// process's memory.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

constexpr size_t kPackedAlignment = 64;

const PackedGemvKernels* packer_for(const CpuBackend& backend, const lmx_tensor& w) {
    const auto type = static_cast<DType>(w.dtype);
    if (type != DType::Q4_0 && type != DType::Q4_1 && type != DType::Q8_0) return nullptr;
    const TypeKernels* k = kernels_for(type, backend.isa);
    if (!k || !k->packed_gemv) return nullptr;
    const auto row = row_bytes(type, w.ne[0]);
    const bool matrix = w.ne[1] >= kPackedRows && w.ne[1] % kPackedRows == 0 && w.ne[2] == 1 &&
                        w.ne[3] == 1;
    if (!row || !matrix || w.nb[0] != info(type).type_size || w.nb[1] < *row) return nullptr;
    return k->packed_gemv;
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

// A repacked weight's original is not read again: drop its pages from this process's memory.
// Only where it is a file mapping (the model file, as prepare_weight is promised; the caller
// checks): its pages stay in the page cache and come back on a later access. Heap memory
// (tests) must be left alone, since MADV_DONTNEED would zero it.
void release_pages(PageSpan span) {
#if defined(__linux__)
    if (!span.empty()) madvise(reinterpret_cast<void*>(span.begin), span.end - span.begin, MADV_DONTNEED);
#else
    (void)span;
#endif
}

// Rows repacked between two releases of the original's pages, about this many bytes: keeps
// the original and its copy from being resident together for a whole large matrix (the
// output head) while loading.
constexpr size_t kRepackSliceBytes = 8u << 20;

}  // namespace

bool repack_weight(CpuBackend& backend, lmx_tensor& w, const void* host_data) {
    const PackedGemvKernels* p = packer_for(backend, w);
    if (!p) return false;
    const int64_t n = w.ne[0], rows = w.ne[1];
    const size_t bytes = p->bytes(n, rows);
    void* out = std::aligned_alloc(kPackedAlignment,
                                   (bytes + kPackedAlignment - 1) / kPackedAlignment * kPackedAlignment);
    if (!out) return false;  // not fatal: the original serves every path
    const int64_t groups = rows / kPackedRows;
    const auto* src = static_cast<const std::byte*>(host_data);
    auto* dst = static_cast<std::byte*>(out);
    const PageSpan all = whole_pages(host_data, byte_extent(w));
    const bool releasable = !all.empty() && in_file_mapping(all.begin, all.end);
    const size_t group_bytes = static_cast<size_t>(kPackedRows) * w.nb[1];
    const int64_t slice = std::max<int64_t>(1, static_cast<int64_t>(kRepackSliceBytes / group_bytes));
    for (int64_t s0 = 0; s0 < groups; s0 += slice) {
        const int64_t s1 = std::min(groups, s0 + slice);
        const int64_t n_chunks = std::min<int64_t>(s1 - s0, 4 * static_cast<int64_t>(backend.pool->size()));
        backend.pool->for_chunks(n_chunks, [&](int64_t chunk, int) {
            const auto [c0, c1] = chunk_range(s1 - s0, chunk, n_chunks);
            const int64_t g0 = s0 + c0, g1 = s0 + c1;
            p->repack(n, src + static_cast<size_t>(g0) * group_bytes, w.nb[1],
                      (g1 - g0) * kPackedRows, dst + p->bytes(n, g0 * kPackedRows));
        });
        if (releasable) {
            release_pages(whole_pages(src + static_cast<size_t>(s0) * group_bytes,
                                      static_cast<size_t>(s1 - s0) * group_bytes));
        }
    }
    w.extra = out;
    if (releasable) release_pages(all);  // the pages that straddled two slices
    return true;
}

void free_repacked(lmx_tensor& w) {
    std::free(w.extra);
    w.extra = nullptr;
}

}  // namespace llamux::cpu
