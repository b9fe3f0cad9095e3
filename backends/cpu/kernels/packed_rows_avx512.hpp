// Internal to the AVX-512 and AMX kernel files: packed_rows.hpp's layouts read into 512-bit
// vectors (16 rows per vector). Unnamed namespace, as there.
#pragma once

#include "simd_avx512.hpp"  // first: see the note on GCC warnings there


#include "packed_rows.hpp"

namespace llamux::cpu::packed {
namespace {

using simd::load512;

// The quant part of one block (quants: its first byte) as 8 vectors, vector k holding in
// int32 lane r row r's elements 4k..4k+3 as stored (q + kOffset).
template <typename Rows>
inline void unpack(const uint8_t* quants, __m512i (&q)[8]) {
    if constexpr (Rows::kNibbles) {
        const __m512i low = _mm512_set1_epi8(0x0F);
        for (int p = 0; p < 4; ++p) {
            const __m512i bytes = load512(quants + 64 * p);
            q[2 * p] = _mm512_and_si512(bytes, low);
            q[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low);
        }
        if constexpr (Rows::kFifthBits) {
            const __m512i high = load512(quants + Rows::kNibbleBytes), bit4 = _mm512_set1_epi8(0x10);
            for (int k = 0; k < 8; ++k) {
                const __m512i moved = k < 4 ? _mm512_slli_epi32(high, 4 - k) : _mm512_srli_epi32(high, k - 4);
                q[k] = _mm512_or_si512(q[k], _mm512_and_si512(moved, bit4));
            }
        }
    } else {
        for (int k = 0; k < 8; ++k) q[k] = load512(quants + 64 * k);
    }
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

}  // namespace
}  // namespace llamux::cpu::packed
