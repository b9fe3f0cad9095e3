// Internal to the kernel files compiled with AVX2 (and those with AVX-512 or AMX, through
// packed_rows_avx512.hpp): the layouts of repacked weights (TypeKernels::packed_gemv), one
// struct per weight type, how rows are repacked into them, and what a GEMV on them needs
// from each activation block. The GEMVs (avx2_packed_products.hpp, kernels_avx512_packed.cpp)
// and the AMX product (kernels_amx.cpp) share this one reading of the bytes, so a weight
// repacked at one level reads the same at any other.
//
// Everything here is in an unnamed namespace: each file gets its own copy compiled with its
// own flags, so that no copy built with AVX-512 instructions can be picked by the linker for
// an AVX2 caller (the reason simd_avx2.hpp's helpers are static).
//
// Per group of kPackedRows = 16 rows, per block b of 32 elements, kBlockBytes bytes: the
// quants of the 16 rows as unsigned values (q + kOffset; 4-bit and 5-bit types as nibbles
// plus a plane of fifth bits), then the rows' 16 f16 scales, then (types with a min, kMin)
// the rows' 16 f16 mins. Unpacked, the quant part is 8 vectors of
// 16 int32 lanes, vector k holding in lane r row r's elements 4k..4k+3: the four that
// vpdpbusd (or vpmaddubsw) multiplies with one broadcast dword of activations, and one row
// of an AMX B tile. So a GEMV needs no horizontal sums; the signed value is q - kOffset,
// taken back as kOffset * sum(a) per activation block (the AVX2 reader of Q8_0 flips its
// bytes back to signed instead), and a min m adds m * d_a * sum(a).
#pragma once

#include <cstring>

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu::packed {
namespace {

// The 4-bit types: 4 chunks of 64 bytes; byte 4r + i of chunk p holds element 8p + i of row
// r in its low nibble and element 8p + 4 + i in its high nibble (the stored quants, 0..15).
// So the low nibbles of chunk p are vector 2p, the high ones vector 2p + 1.
struct NibbleRows {
    static constexpr bool kNibbles = true;
    static constexpr size_t kNibbleBytes = 4 * 64;

    // With lo/hi the low/high nibbles of qs (elements j and j + 16), byte i of chunk p is
    //   p = 0, 1: lo[8p + i] | lo[8p + 4 + i] << 4;   p = 2, 3: hi[8p - 16 + i] | hi[8p - 12 + i] << 4,
    // i.e. bytes 0..3 (p even) and 8..11 (p odd) of v | (v shifted down 4 bytes) << 4.
    static void repack_nibbles(const uint8_t* qs, int r, uint8_t* quants) {
        const __m128i x = simd::loadu128(qs);
        const __m128i low = _mm_set1_epi8(0x0F);
        const __m128i lo = _mm_and_si128(x, low);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low);
        const __m128i t_lo = _mm_or_si128(lo, _mm_slli_epi16(_mm_srli_si128(lo, 4), 4));
        const __m128i t_hi = _mm_or_si128(hi, _mm_slli_epi16(_mm_srli_si128(hi, 4), 4));
        const int dwords[4] = {_mm_cvtsi128_si32(t_lo), _mm_extract_epi32(t_lo, 2),
                               _mm_cvtsi128_si32(t_hi), _mm_extract_epi32(t_hi, 2)};
        for (int p = 0; p < 4; ++p) std::memcpy(quants + 64 * p + 4 * r, &dwords[p], 4);
    }
};

// A 4-bit or 5-bit type: its block, the offset of its stored quants, whether it has a min.
// The 5-bit types' fifth bits follow the nibbles: 64 bytes, row r's 32 in dword r, transposed
// so that bit 8i + k is element 4k + i's (bit e of qh is element e's). Vector k then takes
// its fifth bits with one shift of every dword (left by 4 - k, or right by k - 4) and a mask
// of bit 4 in each byte: no shuffle.
template <typename B, int Offset, bool HasMin, bool FifthBits>
struct NibbleTypeRows : NibbleRows {
    using Block = B;
    static constexpr bool kFifthBits = FifthBits;
    static constexpr int kOffset = Offset;
    static constexpr bool kMin = HasMin;
    static constexpr size_t kQuantBytes = kNibbleBytes + (FifthBits ? kPackedRows * 4 : 0);
    static constexpr size_t kBlockBytes = kQuantBytes + kPackedRows * (HasMin ? 4 : 2);
    static void repack_quants(const Block& blk, int r, uint8_t* quants) {
        repack_nibbles(blk.qs, r, quants);
        if constexpr (FifthBits) {
            uint32_t qh = 0, transposed = 0;
            std::memcpy(&qh, blk.qh, sizeof qh);
            for (int k = 0; k < 8; ++k) {
                for (int i = 0; i < 4; ++i) transposed |= ((qh >> (4 * k + i)) & 1u) << (8 * i + k);
            }
            std::memcpy(quants + kNibbleBytes + 4 * r, &transposed, sizeof transposed);
        }
    }
};
using Q4_0Rows = NibbleTypeRows<BlockQ4_0, 8, false, false>;  // value d (q - 8)
using Q4_1Rows = NibbleTypeRows<BlockQ4_1, 0, true, false>;   // value d q + m
using Q5_0Rows = NibbleTypeRows<BlockQ5_0, 16, false, true>;  // value d (q - 16)
using Q5_1Rows = NibbleTypeRows<BlockQ5_1, 0, true, true>;    // value d q + m
static_assert(Q4_0Rows::kBlockBytes == kPackedQ4_0BlockBytes);
static_assert(Q4_1Rows::kBlockBytes == kPackedQ4_1BlockBytes);
static_assert(Q5_0Rows::kBlockBytes == kPackedQ5_0BlockBytes);
static_assert(Q5_1Rows::kBlockBytes == kPackedQ5_1BlockBytes);

// Q8_0: 8 chunks of 64 bytes; bytes 4r..4r+3 of chunk k are row r's elements 4k..4k+3 as
// q + 128 (the sign bit flipped).
struct Q8_0Rows {
    using Block = BlockQ8_0;
    static constexpr bool kNibbles = false;
    static constexpr bool kFifthBits = false;
    static constexpr int kOffset = 128;
    static constexpr bool kMin = false;
    static constexpr size_t kQuantBytes = 8 * 64;
    static constexpr size_t kBlockBytes = kPackedQ8_0BlockBytes;
    static_assert(kBlockBytes == kQuantBytes + kPackedRows * 2);

    static void repack_quants(const Block& blk, int r, uint8_t* quants) {
        alignas(32) uint8_t flipped[32];
        _mm256_store_si256(reinterpret_cast<__m256i*>(flipped),
                           _mm256_xor_si256(simd::loadu256(blk.qs), _mm256_set1_epi8(static_cast<char>(0x80))));
        for (int k = 0; k < 8; ++k) std::memcpy(quants + 64 * k + 4 * r, flipped + 4 * k, 4);
    }
};

// Where block b of group g starts, for rows of nb blocks.
template <typename Rows>
inline const uint8_t* block_at(const uint8_t* base, int64_t nb, int64_t g, int64_t b) {
    return base + static_cast<size_t>(g * nb + b) * Rows::kBlockBytes;
}

// Row r's scale (and min) of a block into the repacked block.
template <typename Rows>
inline void repack_scales(const typename Rows::Block& blk, int r, uint8_t* block) {
    std::memcpy(block + Rows::kQuantBytes + 2 * r, &blk.d, sizeof(uint16_t));
    if constexpr (Rows::kMin) {
        std::memcpy(block + Rows::kQuantBytes + kPackedRows * 2 + 2 * r, &blk.m, sizeof(uint16_t));
    }
}

// PackedGemvKernels::bytes and ::repack for a layout.
template <typename Rows>
size_t packed_bytes(int64_t n, int64_t rows) {
    return static_cast<size_t>(rows / kPackedRows) * static_cast<size_t>(n / kQK8_0) * Rows::kBlockBytes;
}

template <typename Rows>
void repack(int64_t n, const void* w, size_t w_stride, int64_t rows, void* out) {
    using Block = typename Rows::Block;
    const int64_t nb = n / kQK8_0;
    auto* dst = static_cast<uint8_t*>(out);
    for (int64_t g = 0; g < rows / kPackedRows; ++g) {
        for (int r = 0; r < kPackedRows; ++r) {
            const auto* row = reinterpret_cast<const Block*>(
                static_cast<const uint8_t*>(w) + static_cast<size_t>(g * kPackedRows + r) * w_stride);
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* block = dst + static_cast<size_t>(g * nb + b) * Rows::kBlockBytes;
                Rows::repack_quants(row[b], r, block);
                repack_scales<Rows>(row[b], r, block);
            }
        }
    }
}

// ---- what a GEMV needs from each activation block (Q8_0), prepared once per call ----------

constexpr int64_t kMaxBlocks = 1024;  // activation blocks prepared at a time (a stack table)

// Sum of an activation block's quants: what the stored quants' offset and a min multiply.
inline int32_t quant_sum(const BlockQ8_0& a) {
    const __m256i q = simd::loadu256(a.qs);
    return simd::hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
}

struct ActBlocks {
    alignas(64) float da[kMaxBlocks];
    alignas(64) int32_t bias[kMaxBlocks];   // kOffset * sum(q)
    alignas(64) float da_sum[kMaxBlocks];   // d_a * sum(q), for a min
};

// Blocks [b0, b1) of activation column a (b1 - b0 <= kMaxBlocks) into p, from index 0.
template <typename Rows>
void prepare(const BlockQ8_0* a, int64_t b0, int64_t b1, ActBlocks* p) {
    for (int64_t b = b0; b < b1; ++b) {
        const int32_t sum = quant_sum(a[b]);
        p->da[b - b0] = simd::load_f16(&a[b].d);
        p->bias[b - b0] = Rows::kOffset * sum;
        if constexpr (Rows::kMin) p->da_sum[b - b0] = p->da[b - b0] * static_cast<float>(sum);
    }
}

// The NC activation columns (act, act + a_stride bytes, ...) of a few-columns product, their
// blocks [b0, b1) prepared.
template <typename Rows, int NC>
struct PreparedColumns {
    ActBlocks p[NC];
    const BlockQ8_0* col[NC];
    PreparedColumns(const uint8_t* act, size_t a_stride, int64_t b0, int64_t b1) {
        for (int c = 0; c < NC; ++c) {
            col[c] = reinterpret_cast<const BlockQ8_0*>(act + static_cast<size_t>(c) * a_stride);
            prepare<Rows>(col[c], b0, b1, &p[c]);
        }
    }
};

// Block b of group g, with the block Ahead further along the group prefetched.
template <typename Rows, size_t Ahead>
inline const uint8_t* block_prefetching(const uint8_t* base, int64_t nb, int64_t g, int64_t b) {
    const uint8_t* c = block_at<Rows>(base, nb, g, b);
    const char* ahead = reinterpret_cast<const char*>(c) + Ahead * Rows::kBlockBytes;
    for (size_t off = 0; off < Rows::kBlockBytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    return c;
}

// ---- PackedGemvKernels from one file's products ---------------------------------------------

// A file's GEMV and few-columns product on a layout, given as a struct P with
//   template <typename Rows> static void gemv_blocks(int64_t nb, const uint8_t* base, int64_t g0,
//       int64_t g1, const BlockQ8_0* a, const ActBlocks& p, int64_t b0, int64_t b1,
//       bool accumulate, float* y);   (p: a's blocks [b0, b1) prepared, from index 0)
//   template <typename Rows, int NC> static void columns_blocks(int64_t nb, const uint8_t* base,
//       int64_t g0, int64_t g1, const uint8_t* act, size_t a_stride, int64_t b0, int64_t b1,
//       bool accumulate, float* y, size_t ldy);
// each over row groups [g0, g1) and activation blocks [b0, b1) (at most kMaxBlocks, what one
// ActBlocks table holds), adding to y when `accumulate`; columns_blocks for NC = 1..4 columns
// a_stride bytes apart. Here: the runs of blocks and the passes of 4 columns around them.
template <typename Rows, typename P>
struct PackedProducts {
    static void gemv(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a, float* y) {
        const int64_t nb = n / kQK8_0;
        for (int64_t b0 = 0; b0 < nb; b0 += kMaxBlocks) {
            const int64_t b1 = nb - b0 < kMaxBlocks ? nb : b0 + kMaxBlocks;
            const auto* column = static_cast<const BlockQ8_0*>(a);
            ActBlocks p;
            prepare<Rows>(column, b0, b1, &p);
            P::template gemv_blocks<Rows>(nb, static_cast<const uint8_t*>(packed), g0, g1, column, p, b0, b1, b0 > 0,
                                          y);
        }
    }

    static void columns(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a, size_t a_stride,
                        int64_t nc, float* y, size_t ldy) {
        const int64_t nb = n / kQK8_0;
        const auto* base = static_cast<const uint8_t*>(packed);
        for (int64_t c0 = 0; c0 < nc; c0 += 4) {
            const auto* act = static_cast<const uint8_t*>(a) + static_cast<size_t>(c0) * a_stride;
            float* yc = y + static_cast<size_t>(c0) * ldy;
            for (int64_t b0 = 0; b0 < nb; b0 += kMaxBlocks) {
                const int64_t b1 = nb - b0 < kMaxBlocks ? nb : b0 + kMaxBlocks;
                const bool acc = b0 > 0;
                switch (nc - c0 < 4 ? nc - c0 : 4) {
                    case 1:
                        P::template columns_blocks<Rows, 1>(nb, base, g0, g1, act, a_stride, b0, b1, acc, yc, ldy);
                        break;
                    case 2:
                        P::template columns_blocks<Rows, 2>(nb, base, g0, g1, act, a_stride, b0, b1, acc, yc, ldy);
                        break;
                    case 3:
                        P::template columns_blocks<Rows, 3>(nb, base, g0, g1, act, a_stride, b0, b1, acc, yc, ldy);
                        break;
                    default:
                        P::template columns_blocks<Rows, 4>(nb, base, g0, g1, act, a_stride, b0, b1, acc, yc, ldy);
                        break;
                }
            }
        }
    }

    static constexpr PackedGemvKernels kernels() { return {&packed_bytes<Rows>, &repack<Rows>, &gemv, &columns}; }
};

}  // namespace
}  // namespace llamux::cpu::packed
