// Decoding of the quantized weight types kept quantized in GPU memory (Q4_0, Q8_0, Q4_K,
// Q5_K, Q6_K; block layouts as in llamux/quant_blocks.hpp, byte for byte the GGUF file's,
// and Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K rows split into bodies and scales,
// cuda_stored_types.hpp).
//
// The unit of work is 32 consecutive elements of a row: one block of Q4_0/Q8_0, one eighth
// of a K-quant super-block. decode_unit<T>(row, n_units, u, v) writes elements 32u .. 32u +
// 31 of the row at `row` (n_units units long) to v[0..32) as float, with the reference's
// formulas and operation order (graph/src/quant_*.cpp; products and differences are not
// contracted into FMAs), so the values equal dequantize_row_ref's.
//
// Alignment: a row starts on a 16-byte boundary when the weight's rows are whole multiples
// of 16 bytes, which the K-quants' 144- and 176-byte blocks guarantee for Q4_K and Q5_K
// (their quants are read with 16-byte loads); Q4_0 (18 bytes), Q8_0 (34) and Q6_K (210)
// start on 2-byte boundaries and are read as aligned words shifted into place. Split rows
// (cuda_stored_types.hpp) start on 16-byte boundaries.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "llamux/quant_blocks.hpp"

namespace llamux::cuda {

static_assert(offsetof(BlockQ4_0, qs) == 2 && sizeof(BlockQ4_0) == 18);
static_assert(offsetof(BlockQ8_0, qs) == 2 && sizeof(BlockQ8_0) == 34);
static_assert(offsetof(BlockQ4_K, scales) == 4 && offsetof(BlockQ4_K, qs) == 16 &&
              sizeof(BlockQ4_K) == 144);
static_assert(offsetof(BlockQ5_K, scales) == 4 && offsetof(BlockQ5_K, qh) == 16 &&
              offsetof(BlockQ5_K, qs) == 48 && sizeof(BlockQ5_K) == 176);
static_assert(offsetof(BlockQ6_K, ql) == 0 && offsetof(BlockQ6_K, qh) == 128 &&
              offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208 &&
              sizeof(BlockQ6_K) == 210);

__device__ __forceinline__ uint32_t load_u16(const uint8_t* p) {
    return *reinterpret_cast<const uint16_t*>(p);
}
__device__ __forceinline__ float load_half(const uint8_t* p) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(load_u16(p))));
}
// 32 bytes at a 16-byte aligned address, as eight little-endian words.
__device__ __forceinline__ void load_32_bytes(const uint8_t* p, uint32_t (&w)[8]) {
    const uint4 a = *reinterpret_cast<const uint4*>(p);
    const uint4 b = *reinterpret_cast<const uint4*>(p + 16);
    w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w;
    w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
}
// N words at a 2-byte aligned address, from the aligned words around them (shared with
// the int8 kernels): N + 1 aligned 4-byte loads instead of 2N 2-byte ones. Reads up to 4
// bytes past p + 4N (inside the block or kAllocPadding for every caller).
using int8dot::load_words_2aligned;
template <int N>
__device__ __forceinline__ uint32_t byte_at(const uint32_t (&w)[N], int i) {
    return (w[i >> 2] >> (8 * (i & 3))) & 0xFFu;
}

// Q4_K/Q5_K: 6-bit scale and min of sub-block s (the reference's k4_scale_min), from the
// block's first 16 bytes (d, dmin, scales; 16-byte aligned).
__device__ __forceinline__ void k4_scale_min(const uint8_t* block, int s, float& sc, float& m) {
    uint32_t head[4];
    int8dot::load_16(block, head);
    int sci, mi;
    int8dot::k4_scale_min(head, s, sci, mi);
    sc = static_cast<float>(sci);
    m = static_cast<float>(mi);
}

template <int T>
__device__ __forceinline__ void decode_unit(const uint8_t* row, int64_t n_units, int64_t u, float (&v)[32]);

// Q4_0: x = d * (q - 8); qs[j] low nibble = element j, high nibble = element j + 16.
__device__ __forceinline__ void q4_0_values(float d, const uint32_t (&qs)[4], float (&v)[32]) {
#pragma unroll
    for (int j = 0; j < 16; ++j) {
        const int q = static_cast<int>(byte_at(qs, j));
        v[j] = __fmul_rn(d, static_cast<float>((q & 0xF) - 8));
        v[j + 16] = __fmul_rn(d, static_cast<float>((q >> 4) - 8));
    }
}
template <>
__device__ __forceinline__ void decode_unit<LMX_TYPE_Q4_0>(const uint8_t* row, int64_t /*n_units*/, int64_t u,
                                                          float (&v)[32]) {
    const uint8_t* b = row + 18 * u;
    uint32_t qs[4];
    load_words_2aligned(b + 2, qs);
    q4_0_values(load_half(b), qs, v);
}
template <>
__device__ __forceinline__ void decode_unit<kStoredQ4_0Split>(const uint8_t* row, int64_t n_units, int64_t u,
                                                             float (&v)[32]) {
    uint32_t qs[4];
    int8dot::load_16(row + 16 * u, qs);
    q4_0_values(load_half(row + 16 * n_units + 2 * u), qs, v);
}

// Q8_0: x = d * q, q int8.
__device__ __forceinline__ void q8_0_values(float d, const uint32_t (&qs)[8], float (&v)[32]) {
#pragma unroll
    for (int j = 0; j < 32; ++j) {
        v[j] = __fmul_rn(d, static_cast<float>(static_cast<int8_t>(byte_at(qs, j))));
    }
}
template <>
__device__ __forceinline__ void decode_unit<LMX_TYPE_Q8_0>(const uint8_t* row, int64_t /*n_units*/, int64_t u,
                                                          float (&v)[32]) {
    const uint8_t* b = row + 34 * u;
    uint32_t qs[8];
    load_words_2aligned(b + 2, qs);
    q8_0_values(load_half(b), qs, v);
}
template <>
__device__ __forceinline__ void decode_unit<kStoredQ8_0Split>(const uint8_t* row, int64_t n_units, int64_t u,
                                                             float (&v)[32]) {
    uint32_t qs[8];
    load_32_bytes(row + 32 * u, qs);
    q8_0_values(load_half(row + 32 * n_units + 2 * u), qs, v);
}

// A Q4_K / Q5_K sub-block's scale dl = d * sc and offset ml = dmin * m, from the
// super-block's 16-byte head (d, dmin, the packed 6-bit scales and mins; 16-byte aligned).
__device__ __forceinline__ void k4_sub_block_scales(const uint8_t* head, int s, float& dl, float& ml) {
    float sc, m;
    k4_scale_min(head, s, sc, m);
    dl = __fmul_rn(load_half(head), sc);
    ml = __fmul_rn(load_half(head + 2), m);
}

// Q4_K sub-block s of super-block u / 8: x = (d * sc) * q - dmin * m, q the low nibbles of
// qs[32 (s/2) ..) for even s, the high nibbles for odd s.
template <>
__device__ __forceinline__ void decode_unit<LMX_TYPE_Q4_K>(const uint8_t* row, int64_t /*n_units*/, int64_t u,
                                                          float (&v)[32]) {
    const uint8_t* b = row + 144 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    float dl, ml;
    k4_sub_block_scales(b, s, dl, ml);
    uint32_t qs[8];
    load_32_bytes(b + 16 + 32 * (s >> 1), qs);
    const int shift = (s & 1) * 4;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
        const int q = static_cast<int>((byte_at(qs, l) >> shift) & 0xF);
        v[l] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q)), ml);
    }
}

// Split Q4_K (cuda_stored_types.hpp): sub-block u % 8's quants 16 bytes at row + 16 u in
// Q4_0's order, the super-block's 16-byte head after all the quants (16 n_units bytes).
template <>
__device__ __forceinline__ void decode_unit<kStoredQ4_KSplit>(const uint8_t* row, int64_t n_units, int64_t u,
                                                             float (&v)[32]) {
    const uint8_t* head = row + 16 * n_units + 16 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    float dl, ml;
    k4_sub_block_scales(head, s, dl, ml);
    uint32_t qs[4];
    int8dot::load_16(row + 16 * u, qs);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
        const int q = static_cast<int>(byte_at(qs, j));
        v[j] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q & 0xF)), ml);
        v[j + 16] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q >> 4)), ml);
    }
}

// Q5_K: as Q4_K with bit 4 of element l of sub-block s in bit s of qh[l].
template <>
__device__ __forceinline__ void decode_unit<LMX_TYPE_Q5_K>(const uint8_t* row, int64_t /*n_units*/, int64_t u,
                                                          float (&v)[32]) {
    const uint8_t* b = row + 176 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    float dl, ml;
    k4_sub_block_scales(b, s, dl, ml);
    uint32_t qh[8], qs[8];
    load_32_bytes(b + 16, qh);
    load_32_bytes(b + 48 + 32 * (s >> 1), qs);
    const int shift = (s & 1) * 4;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
        const int low = static_cast<int>((byte_at(qs, l) >> shift) & 0xF);
        const int high = static_cast<int>((byte_at(qh, l) >> s) & 1);
        v[l] = __fsub_rn(__fmul_rn(dl, static_cast<float>(low | (high << 4))), ml);
    }
}

// Split Q5_K: as split Q4_K with 160-byte bodies (the regrouped low bits, then one word of
// fifth bits per sub-block: bit l for element l), the heads after all of them.
template <>
__device__ __forceinline__ void decode_unit<kStoredQ5_KSplit>(const uint8_t* row, int64_t n_units, int64_t u,
                                                             float (&v)[32]) {
    const uint8_t* body = row + 160 * (u >> 3);
    const uint8_t* head = row + 20 * n_units + 16 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    float dl, ml;
    k4_sub_block_scales(head, s, dl, ml);
    uint32_t qs[4];
    int8dot::load_16(body + 16 * s, qs);
    const uint32_t h = int8dot::load_word(body + 128 + 4 * s);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
        const int q = static_cast<int>(byte_at(qs, j));
        const int low = (q & 0xF) | static_cast<int>(((h >> j) & 1u) << 4);
        const int high = (q >> 4) | static_cast<int>(((h >> (j + 16)) & 1u) << 4);
        v[j] = __fsub_rn(__fmul_rn(dl, static_cast<float>(low)), ml);
        v[j + 16] = __fsub_rn(__fmul_rn(dl, static_cast<float>(high)), ml);
    }
}

// Q6_K: unit s = 4h + p covers elements 128h + 32p + l. Low 4 bits in
// ql[64h + 32 (p & 1) + l] (low nibble for p < 2), high 2 bits at bits 2p of qh[32h + l];
// x = (d * scales[8h + 2p + l / 16]) * (q - 32). ql, qh: the unit's 32 bytes of each.
__device__ __forceinline__ void q6_k_values(float d, int p, const int8_t* scales, const uint32_t (&ql)[8],
                                            const uint32_t (&qh)[8], float (&v)[32]) {
    const float d0 = __fmul_rn(d, static_cast<float>(scales[0]));
    const float d1 = __fmul_rn(d, static_cast<float>(scales[1]));
    const int lshift = p < 2 ? 0 : 4;
#pragma unroll
    for (int l = 0; l < 32; ++l) {
        const int low = static_cast<int>((byte_at(ql, l) >> lshift) & 0xF);
        const int high = static_cast<int>((byte_at(qh, l) >> (2 * p)) & 3);
        const int q = (low | (high << 4)) - 32;
        v[l] = __fmul_rn(l < 16 ? d0 : d1, static_cast<float>(q));
    }
}
template <>
__device__ __forceinline__ void decode_unit<LMX_TYPE_Q6_K>(const uint8_t* row, int64_t /*n_units*/, int64_t u,
                                                          float (&v)[32]) {
    const uint8_t* b = row + 210 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    const int h = s >> 2, p = s & 3;
    uint32_t ql[8], qh[8];
    load_words_2aligned(b + 64 * h + 32 * (p & 1), ql);
    load_words_2aligned(b + 128 + 32 * h, qh);
    q6_k_values(load_half(b + 208), p, reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * p), ql, qh, v);
}
// Split (cuda_stored_types.hpp): 208-byte bodies, 16-byte aligned, the d values after them.
template <>
__device__ __forceinline__ void decode_unit<kStoredQ6_KSplit>(const uint8_t* row, int64_t n_units, int64_t u,
                                                             float (&v)[32]) {
    const uint8_t* b = row + 208 * (u >> 3);
    const int s = static_cast<int>(u & 7);
    const int h = s >> 2, p = s & 3;
    uint32_t ql[8], qh[8];
    load_32_bytes(b + 64 * h + 32 * (p & 1), ql);
    load_32_bytes(b + 128 + 32 * h, qh);
    q6_k_values(load_half(row + 208 * (n_units >> 3) + 2 * (u >> 3)), p,
                reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * p), ql, qh, v);
}

}  // namespace llamux::cuda
