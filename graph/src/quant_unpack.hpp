// Internal to graph/src/quant_*.cpp: the quants of one block as small signed integers in
// element order, and the int8 dot product the reference dot products are built on.
// Dequantize and vec_dot both go through these, so the bit layouts are written once.
//
// Why the dot products unpack to an int8_t array first instead of forming
// (nibble - 8) * a[j] in one expression: GCC 12 with AVX-VNNI (-march=native on recent
// x86) vectorizes that mixed unsigned/signed pattern into vpdpbusd incorrectly and returns
// wrong sums (seen on Q4_0 and Q5_0-style loops). A plain int8 x int8 loop is compiled
// correctly.
#pragma once

#include <cstdint>
#include <cstring>

#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref_detail.hpp"

namespace llamux::unpack {

// sum_j a[j] * b[j], exact in int32 for n <= 256 (|a b| <= 2^14 per term).
inline int dot_i8(const int8_t* a, const int8_t* b, int n) {
    int sum = 0;
    for (int j = 0; j < n; ++j) sum += a[j] * b[j];
    return sum;
}

// ---- 32-element blocks: element j < 16 in the low nibble of qs[j], element j + 16 in the
// high nibble of qs[j]; 5-bit types: bit j of the little-endian word qh is bit 4 of element j.

inline uint32_t load_qh(const uint8_t (&qh)[4]) {
    uint32_t v = 0;
    std::memcpy(&v, qh, sizeof v);
    return v;
}

inline void nibbles(const uint8_t* qs, int offset, int8_t* q) {
    for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>((qs[j] & 0xF) + offset);
        q[j + 16] = static_cast<int8_t>((qs[j] >> 4) + offset);
    }
}

inline void nibbles_5bit(const uint8_t* qs, uint32_t qh, int offset, int8_t* q) {
    for (int j = 0; j < 16; ++j) {
        const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
        const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
        q[j] = static_cast<int8_t>(((qs[j] & 0xF) | h0) + offset);
        q[j + 16] = static_cast<int8_t>(((qs[j] >> 4) | h1) + offset);
    }
}

inline void q4_0(const BlockQ4_0& b, int8_t* q) { nibbles(b.qs, -8, q); }               // -8..7
inline void q4_1(const BlockQ4_1& b, int8_t* q) { nibbles(b.qs, 0, q); }                // 0..15
inline void q5_0(const BlockQ5_0& b, int8_t* q) { nibbles_5bit(b.qs, load_qh(b.qh), -16, q); }
inline void q5_1(const BlockQ5_1& b, int8_t* q) { nibbles_5bit(b.qs, load_qh(b.qh), 0, q); }

// ---- 256-element super-blocks ----------------------------------------------------------

// 2-bit planes of Q2_K/Q3_K: element e is in byte 32 (e / 128) + e % 32 of qs, at bits
// 2 ((e % 128) / 32). Returns 0..3.
inline int two_bits(const uint8_t* qs, int e) {
    return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

inline void q2_k(const BlockQ2_K& b, int8_t* q) {  // 0..3
    for (int e = 0; e < kQK_K; ++e) q[e] = static_cast<int8_t>(two_bits(b.qs, e));
}

// Q3_K: bit 2 of element e is bit e / 32 of hmask[e % 32]; a clear bit means "minus 4".
inline void q3_k(const BlockQ3_K& b, int8_t* q) {  // -4..3
    for (int e = 0; e < kQK_K; ++e) {
        const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
        q[e] = static_cast<int8_t>(two_bits(b.qs, e) - (high ? 0 : 4));
    }
}

// Q4_K/Q5_K nibbles: chunk c = e / 64 uses qs[32c .. 32c + 32); its first 32 elements are
// the low nibbles, the next 32 the high nibbles.
inline int k_nibble(const uint8_t* qs, int e) {
    const uint8_t byte = qs[32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? (byte & 0xF) : (byte >> 4);
}

inline void q4_k(const BlockQ4_K& b, int8_t* q) {  // 0..15
    for (int e = 0; e < kQK_K; ++e) q[e] = static_cast<int8_t>(k_nibble(b.qs, e));
}

// Q5_K: bit 4 of element e is bit e / 32 (its sub-block) of qh[e % 32].
inline void q5_k(const BlockQ5_K& b, int8_t* q) {  // 0..31
    for (int e = 0; e < kQK_K; ++e) {
        const int high = (b.qh[e % 32] >> (e / 32)) & 1;
        q[e] = static_cast<int8_t>(k_nibble(b.qs, e) | (high << 4));
    }
}

// Q6_K: h = e / 128, part p = (e % 128) / 32, l = e % 32. Low 4 bits in
// ql[64h + l + 32 (p & 1)] (low nibble for p < 2, high nibble else); high 2 bits in
// qh[32h + l] at bits 2p. Stored as q + 32.
inline void q6_k(const BlockQ6_K& b, int8_t* q) {  // -32..31
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128;
        const int p = (e % 128) / 32;
        const int l = e % 32;
        const uint8_t lbyte = b.ql[64 * h + l + 32 * (p & 1)];
        const int low = p < 2 ? (lbyte & 0xF) : (lbyte >> 4);
        const int high = (b.qh[32 * h + l] >> (2 * p)) & 3;
        q[e] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
}

}  // namespace llamux::unpack
