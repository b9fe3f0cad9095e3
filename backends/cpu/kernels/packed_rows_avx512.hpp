// Internal to the AVX-512 and AMX kernel files: the layouts of repacked weights
// (TypeKernels::packed_gemv), one struct per weight type, so that the GEMV
// (kernels_avx512_packed.cpp) and the AMX product (kernels_amx.cpp) share one reading of
// them.
//
// Per group of kPackedRows = 16 rows, per block b of 32 elements, kBlockBytes bytes: the
// quants of the 16 rows as unsigned bytes (q + kOffset), then the rows' 16 f16 scales, then
// (types with a min, kMin) the rows' 16 f16 mins. unpack() turns the quant part into 8
// vectors, vector k holding in int32 lane r row r's elements 4k..4k+3: the four that
// vpdpbusd multiplies with one broadcast dword of activations, and one row of an AMX B
// tile. So a GEMV needs no horizontal sums; the signed value is q - kOffset, taken back as
// kOffset * sum(a) per activation block, and a min m adds m * d_a * sum(a).
#pragma once

#include <cstring>

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx512.hpp"

namespace llamux::cpu::packed {

using simd::load512;

// The 4-bit types: 4 chunks of 64 bytes; byte 4r + i of chunk p holds element 8p + i of row
// r in its low nibble and element 8p + 4 + i in its high nibble (the stored quants, 0..15).
struct NibbleRows {
    static constexpr size_t kQuantBytes = 4 * 64;

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
    static void unpack(const uint8_t* quants, __m512i (&q)[8]) {
        const __m512i low = _mm512_set1_epi8(0x0F);
        for (int p = 0; p < 4; ++p) {
            const __m512i bytes = load512(quants + 64 * p);
            q[2 * p] = _mm512_and_si512(bytes, low);
            q[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low);
        }
    }
};

// A 4-bit type: its block, the offset of its stored quants, whether it has a min.
template <typename B, int Offset, bool HasMin>
struct NibbleTypeRows : NibbleRows {
    using Block = B;
    static constexpr int kOffset = Offset;
    static constexpr bool kMin = HasMin;
    static constexpr size_t kBlockBytes = kQuantBytes + kPackedRows * (HasMin ? 4 : 2);
    static void repack_quants(const Block& blk, int r, uint8_t* quants) { repack_nibbles(blk.qs, r, quants); }
};
using Q4_0Rows = NibbleTypeRows<BlockQ4_0, 8, false>;  // value d (q - 8)
using Q4_1Rows = NibbleTypeRows<BlockQ4_1, 0, true>;   // value d q + m
static_assert(Q4_0Rows::kBlockBytes == kPackedQ4_0BlockBytes);
static_assert(Q4_1Rows::kBlockBytes == kPackedQ4_1BlockBytes);

// Q8_0: 8 chunks of 64 bytes; bytes 4r..4r+3 of chunk k are row r's elements 4k..4k+3 as
// q + 128 (the sign bit flipped).
struct Q8_0Rows {
    using Block = BlockQ8_0;
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
    static void unpack(const uint8_t* quants, __m512i (&q)[8]) {
        for (int k = 0; k < 8; ++k) q[k] = load512(quants + 64 * k);
    }
};

// Where block b of group g starts, for rows of nb blocks.
template <typename Rows>
inline const uint8_t* block_at(const uint8_t* base, int64_t nb, int64_t g, int64_t b) {
    return base + static_cast<size_t>(g * nb + b) * Rows::kBlockBytes;
}

// The 16 rows' scales of a block, as floats.
template <typename Rows>
inline __m512 row_scales(const uint8_t* block) {
    return _mm512_cvtph_ps(simd::loadu256(block + Rows::kQuantBytes));
}

// The 16 rows' mins of a block (types with kMin), as floats.
template <typename Rows>
inline __m512 row_mins(const uint8_t* block) {
    return _mm512_cvtph_ps(simd::loadu256(block + Rows::kQuantBytes + kPackedRows * 2));
}

// Row r's scale (and min) of a block into the repacked block.
template <typename Rows>
inline void repack_scales(const typename Rows::Block& blk, int r, uint8_t* block) {
    std::memcpy(block + Rows::kQuantBytes + 2 * r, &blk.d, sizeof(uint16_t));
    if constexpr (Rows::kMin) {
        std::memcpy(block + Rows::kQuantBytes + kPackedRows * 2 + 2 * r, &blk.m, sizeof(uint16_t));
    }
}

}  // namespace llamux::cpu::packed
