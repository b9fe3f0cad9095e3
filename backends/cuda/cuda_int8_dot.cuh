// The arithmetic of the int8 matrix-vector kernels (cuda_mmv.cu): a weight row's quantized
// blocks times activations rounded to int8 (Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants),
// integer dot products per block and one float multiply by the two scales, the reference's
// formulas (graph/src/quant_legacy.cpp, quant_kquants_dot.cpp).
//
// Written once for the device and the host: nvcc compiles it into the kernels; the host
// compiler compiles the same code into test_cuda_int8_dot, which checks it against the
// reference dot products on machines without a GPU (CI). Only the distribution of work over
// lanes and the warp's final sum are device-only. The intrinsics it needs (__dp4a,
// __funnelshift_rc, __vsub4, __ldg, half to float) have host twins here.
//
// Each weight type has a load step (global memory to registers: the kernels issue the
// loads of several items before the first use) and a compute step (registers to a float),
// overloads of load() and compute() on its loaded form, Kind<T>::Loaded.
// Item = the unit of work of one lane: a Q4_0/Q8_0 block (32 elements), a Q6_K unit (32
// elements: two of its 16-element sub-blocks), a Q4_K/Q5_K pair of 32-element sub-blocks
// (one sub-block in a split Q4_K / Q5_K row).
//
// Alignment, as the kernels are given it: x quants 16-byte aligned; Q4_K/Q5_K rows on
// 16-byte boundaries (144- and 176-byte blocks, rows allocated 16-aligned); Q4_0, Q8_0 and
// Q6_K rows on 2-byte boundaries, read as the aligned 4-byte words that cover them, up to
// 3 bytes past the last block (kAllocPadding keeps those reads inside the allocation);
// split rows (cuda_stored_types.hpp) on 16-byte boundaries.
//
// Every load takes the row's item count too: a split row keeps its scales after the bodies
// of all its blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_stored_types.hpp"
#include "llamux/dtype.hpp"
#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref.hpp"  // f16_to_f32 for the host

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define LMX_HD __host__ __device__ __forceinline__
#define LMX_UNROLL _Pragma("unroll")
#else
#define LMX_HD inline
#define LMX_UNROLL
#endif

namespace llamux::cuda::int8dot {

// ---- intrinsics and their host twins -------------------------------------------------------

// c + the sum of the four products of the signed bytes of a and b (__dp4a).
LMX_HD int dot4(int a, int b, int c) {
#if defined(__CUDA_ARCH__)
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; ++i) {
        c += static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i)) *
             static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i));
    }
    return c;
#endif
}

// The low word of (hi:lo) >> shift, shift in 0..32 (__funnelshift_rc; 32 gives hi).
LMX_HD uint32_t funnel_right(uint32_t lo, uint32_t hi, int shift) {
#if defined(__CUDA_ARCH__)
    return __funnelshift_rc(lo, hi, shift);
#else
    const uint64_t both = (static_cast<uint64_t>(hi) << 32) | lo;
    return static_cast<uint32_t>(both >> shift);
#endif
}

// Bytewise a - b, each byte modulo 256 (__vsub4).
LMX_HD uint32_t sub_bytes(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __vsub4(a, b);
#else
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
        r |= ((((a >> (8 * i)) & 0xFFu) - ((b >> (8 * i)) & 0xFFu)) & 0xFFu) << (8 * i);
    }
    return r;
#endif
}

// One aligned word / float through the read-only cache.
LMX_HD uint32_t load_word(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
    return __ldg(reinterpret_cast<const unsigned int*>(p));
#else
    uint32_t w;
    std::memcpy(&w, p, 4);
    return w;
#endif
}
LMX_HD float load_float(const float* p) {
#if defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    return *p;
#endif
}
// Two bytes at a 2-byte aligned address, in the low half.
LMX_HD uint32_t load_u16(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
    return __ldg(reinterpret_cast<const unsigned short*>(p));
#else
    uint16_t h;
    std::memcpy(&h, p, 2);
    return h;
#endif
}

// 16 bytes at a 16-byte aligned address as four little-endian words, one load on the device.
LMX_HD void load_16(const void* p, uint32_t* w) {
#if defined(__CUDA_ARCH__)
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
#else
    std::memcpy(w, p, 16);
#endif
}

LMX_HD float half_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xFFFFu)));
#else
    return f16_to_f32(static_cast<f16_bits>(bits & 0xFFFFu));
#endif
}

LMX_HD int byte_of(uint32_t w, int i) { return static_cast<int>((w >> (8 * i)) & 0xFFu); }

// N words starting at a 2-byte aligned address: the N + 1 aligned words around them,
// shifted into place.
template <int N>
LMX_HD void load_words_2aligned(const uint8_t* p, uint32_t (&w)[N]) {
    const int off = static_cast<int>(reinterpret_cast<uintptr_t>(p) & 3);  // 0 or 2
    uint32_t raw[N + 1];
LMX_UNROLL
    for (int i = 0; i <= N; ++i) raw[i] = load_word(p - off + 4 * i);
LMX_UNROLL
    for (int i = 0; i < N; ++i) w[i] = funnel_right(raw[i], raw[i + 1], 8 * off);
}

// 32 int8 activations (16-byte aligned) as eight words.
LMX_HD void load_x32(const int8_t* x, uint32_t (&w)[8]) {
    load_16(x, w);
    load_16(x + 16, w + 4);
}

// Bytes per block of the types read here (the file's layouts, llamux/quant_blocks.hpp).
template <int T>
constexpr int kBlockBytes = static_cast<int>(
    T == LMX_TYPE_Q4_0   ? sizeof(BlockQ4_0)
    : T == LMX_TYPE_Q8_0 ? sizeof(BlockQ8_0)
    : T == LMX_TYPE_Q4_K ? sizeof(BlockQ4_K)
    : T == LMX_TYPE_Q5_K ? sizeof(BlockQ5_K)
    : T == LMX_TYPE_Q6_K ? sizeof(BlockQ6_K)
                         : 0);  // not a file block (the split types)

// ---- Q4_0 and Q8_0 blocks on Q8_0 activations ----------------------------------------------

// One block's dot from its quant words (Q4_0: 4 words, byte j = elements j and j + 16 in
// its nibbles; Q8_0: 8 words of int8), its f16 scale bits and the 32 activation quants and
// scale it meets: sumi, the exact integer dot of the quants, times d_w and d_x in the
// reference's order, so that the value equals the reference's bit for bit.
template <int F>
LMX_HD float legacy_block_dot(const uint32_t (&qs)[F == LMX_TYPE_Q4_0 ? 4 : 8], uint32_t d_bits,
                              const uint32_t (&x)[8], float dx) {
    const float dw = half_to_float(d_bits);
    int sumi = 0;
    if constexpr (F == LMX_TYPE_Q4_0) {
        // Weight quants are q - 8 with q in 0..15: dot with q, minus 8 * sum(x).
        int sumx = 0;
LMX_UNROLL
        for (int j = 0; j < 4; ++j) {
            sumi = dot4(static_cast<int>(qs[j] & 0x0F0F0F0Fu), static_cast<int>(x[j]), sumi);
            sumi = dot4(static_cast<int>((qs[j] >> 4) & 0x0F0F0F0Fu), static_cast<int>(x[4 + j]), sumi);
            sumx = dot4(0x01010101, static_cast<int>(x[j]), sumx);
            sumx = dot4(0x01010101, static_cast<int>(x[4 + j]), sumx);
        }
        sumi -= 8 * sumx;
        return static_cast<float>(sumi) * dw * dx;  // the reference's order (symmetric_dot)
    } else {
LMX_UNROLL
        for (int j = 0; j < 8; ++j) sumi = dot4(static_cast<int>(qs[j]), static_cast<int>(x[j]), sumi);
    }
    return static_cast<float>(sumi) * (dw * dx);  // the reference's order (q8_0_dot_ref)
}

// A block as loaded: the aligned words that cover it (it starts 0 or 2 bytes into the
// first), where it starts in them, and the 32 activation quants and scale it meets.
template <int T>
struct Q8Loaded {
    static constexpr int kWords = (kBlockBytes<T> + 2 + 3) / 4;
    uint32_t raw[kWords];
    int off;  // byte offset of the block in raw[0]: 0 or 2
    uint32_t x[8];
    float dx;
};

// The weights of block b of the row at `row` (load_acts and load below take the rest).
template <int T>
LMX_HD void load_weights(const uint8_t* row, int64_t /*n_items*/, int64_t b, Q8Loaded<T>& ld) {
    const uint8_t* p = row + b * kBlockBytes<T>;
    ld.off = static_cast<int>(reinterpret_cast<uintptr_t>(p) & 3);
LMX_UNROLL
    for (int k = 0; k < Q8Loaded<T>::kWords; ++k) ld.raw[k] = load_word(p - ld.off + 4 * k);
}

template <int T>
LMX_HD float compute(const Q8Loaded<T>& ld) {
    const int shift = 8 * (ld.off + 2);  // the quants start 2 bytes after d
    constexpr int kQuantWords = T == LMX_TYPE_Q4_0 ? 4 : 8;
    uint32_t qs[kQuantWords];
LMX_UNROLL
    for (int j = 0; j < kQuantWords; ++j) qs[j] = funnel_right(ld.raw[j], ld.raw[j + 1], shift);
    return legacy_block_dot<T>(qs, ld.raw[0] >> (8 * ld.off), ld.x, ld.dx);
}

// ---- split Q4_0 and Q8_0 rows (cuda_stored_types.hpp) on Q8_0 activations ------------------
// Block b's quants at row + q b (q = 16 or 32 bytes, 16-byte aligned: whole 16-byte loads),
// its scale at row + q n + 2 b; the same arithmetic as the file's blocks.

template <int S>
struct SplitLoaded {
    static constexpr int kWords = split_body_bytes(S) / 4;
    uint32_t q[kWords];
    uint32_t d;  // f16 scale bits
    uint32_t x[8];
    float dx;
};

template <int S>
LMX_HD void load_weights(const uint8_t* row, int64_t n_items, int64_t b, SplitLoaded<S>& ld) {
    constexpr int kQ = split_body_bytes(S);
LMX_UNROLL
    for (int k = 0; k < kQ / 16; ++k) load_16(row + kQ * b + 16 * k, ld.q + 4 * k);
    ld.d = load_u16(row + kQ * n_items + 2 * b);
}
template <int S>
LMX_HD float compute(const SplitLoaded<S>& ld) {
    return legacy_block_dot<blocks_type(S)>(ld.q, ld.d, ld.x, ld.dx);
}

// A Q4_0 / Q8_0 block in either form (L: Q8Loaded or SplitLoaded). The activations block b
// meets (xq, xd: the whole activation row's quants and scales), and everything at once.
// The weights load apart too (load_weights), so that a kernel may load them (no kernel
// writes weights) before it waits for the kernel that writes the activations.
template <class L>
LMX_HD void load_acts(int64_t b, const int8_t* xq, const float* xd, L& ld) {
    load_x32(xq + 32 * b, ld.x);
    ld.dx = load_float(xd + b);
}
template <class L>
LMX_HD auto load(const uint8_t* row, int64_t n_items, int64_t b, const int8_t* xq, const float* xd, L& ld)
    -> decltype(load_weights(row, n_items, b, ld)) {  // only the forms with load_weights
    load_weights(row, n_items, b, ld);
    load_acts(b, xq, xd, ld);
}

// ---- Q6_K on Q8_K activations --------------------------------------------------------------
// Unit u = 8 i + s of a row: super-block i, s = 4h + p covers its elements 128h + 32p + l.
// Low 4 bits in ql[64h + 32 (p & 1) + l] (the high nibbles for p >= 2), high 2 bits at bit
// 2p of qh[32h + l]; q - 32 times int8 scales[8h + 2p] (l < 16) or scales[8h + 2p + 1].

struct Q6KLoaded {
    uint32_t ql[8], qh[8];
    int p;        // the unit's p (0..3)
    int sc0, sc1;  // its two sub-block scales
    float dw, dx;
    uint32_t x[8];
};

LMX_HD void load(const uint8_t* row, int64_t /*n_items*/, int64_t u, const int8_t* xq, const float* xd,
                 Q6KLoaded& ld) {
    const uint8_t* b = row + kBlockBytes<LMX_TYPE_Q6_K> * (u >> 3);
    const int s = static_cast<int>(u & 7), h = s >> 2;
    ld.p = s & 3;
    load_words_2aligned(b + 64 * h + 32 * (ld.p & 1), ld.ql);
    load_words_2aligned(b + 128 + 32 * h, ld.qh);
    // scales[8h + 2p .. +1] and d (bytes 208..209) from the aligned words around them.
    const uint8_t* sc = b + 192 + 8 * h + 2 * ld.p;
    const uint32_t scw = load_word(sc - (reinterpret_cast<uintptr_t>(sc) & 3));
    const int sc_shift = 8 * static_cast<int>(reinterpret_cast<uintptr_t>(sc) & 3);
    ld.sc0 = static_cast<int8_t>(scw >> sc_shift);
    ld.sc1 = static_cast<int8_t>(scw >> (sc_shift + 8));
    const uint8_t* d = b + 208;
    ld.dw = half_to_float(load_word(d - (reinterpret_cast<uintptr_t>(d) & 3)) >>
                          (8 * (reinterpret_cast<uintptr_t>(d) & 3)));
    load_x32(xq + 32 * u, ld.x);
    ld.dx = load_float(xd + (u >> 3));
}

LMX_HD float compute(const Q6KLoaded& ld) {
    const int lshift = ld.p < 2 ? 0 : 4;
    int sumi0 = 0, sumi1 = 0;
LMX_UNROLL
    for (int j = 0; j < 8; ++j) {
        const uint32_t lo = (ld.ql[j] >> lshift) & 0x0F0F0F0Fu;
        const uint32_t hi = ((ld.qh[j] >> (2 * ld.p)) & 0x03030303u) << 4;
        const int q = static_cast<int>(sub_bytes(lo | hi, 0x20202020u));
        if (j < 4) {
            sumi0 = dot4(q, static_cast<int>(ld.x[j]), sumi0);
        } else {
            sumi1 = dot4(q, static_cast<int>(ld.x[j]), sumi1);
        }
    }
    const int isum = ld.sc0 * sumi0 + ld.sc1 * sumi1;
    return (ld.dw * ld.dx) * static_cast<float>(isum);
}

// Q6_K rows split (cuda_stored_types.hpp): each super-block's ql, qh and scales as in the
// file, 208 bytes at a 16-byte aligned stride, and the d values after them: whole 16-byte
// loads, the same arithmetic (compute above).
struct Q6KSplitLoaded : Q6KLoaded {};

LMX_HD void load(const uint8_t* row, int64_t n_items, int64_t u, const int8_t* xq, const float* xd,
                 Q6KSplitLoaded& ld) {
    constexpr int kBody = split_body_bytes(kStoredQ6_KSplit);
    const uint8_t* b = row + kBody * (u >> 3);
    const int s = static_cast<int>(u & 7), h = s >> 2;
    ld.p = s & 3;
    const uint8_t* ql = b + 64 * h + 32 * (ld.p & 1);
    load_16(ql, ld.ql);
    load_16(ql + 16, ld.ql + 4);
    load_16(b + 128 + 32 * h, ld.qh);
    load_16(b + 144 + 32 * h, ld.qh + 4);
    const uint32_t sc = load_u16(b + 192 + 8 * h + 2 * ld.p);  // scales[8h + 2p], [8h + 2p + 1]
    ld.sc0 = static_cast<int8_t>(sc & 0xFFu);
    ld.sc1 = static_cast<int8_t>(sc >> 8);
    ld.dw = half_to_float(load_u16(row + kBody * (n_items >> 3) + 2 * (u >> 3)));
    load_x32(xq + 32 * u, ld.x);
    ld.dx = load_float(xd + (u >> 3));
}

// ---- Q4_K and Q5_K on Q8_K activations -----------------------------------------------------
// Item i of a row: super-block i / 4, sub-blocks s = 2j and 2j + 1 with j = i % 4, elements
// 64j .. 64j + 63. Both sub-blocks take their 4 low bits from the same 32 bytes
// qs[32j ..): low nibbles for 2j, high nibbles for 2j + 1; Q5_K's fifth bit of element l of
// sub-block s is bit s of qh[l]. Value (d sc_s) q - dmin m_s with 6-bit scales and mins
// (the reference's k4_scale_min). With Q8_K activations (int8 quants a, scale d_a):
//   sum = d d_a sum_s sc_s (q . a)_s - dmin d_a sum_s m_s sum(a)_s
// where sum(a)_s is what the reference reads from bsums (exact sums of the quants).

template <int T>
struct K4Loaded {
    uint32_t head[4];  // d, dmin (word 0) and the 12 bytes of packed scales and mins
    uint32_t qs[8];
    uint32_t qh[T == LMX_TYPE_Q5_K ? 8 : 1];
    int j;
    uint32_t x[16];  // the 64 activation quants of sub-blocks 2j, 2j + 1
    float dx;
};

template <int T>
LMX_HD void load(const uint8_t* row, int64_t /*n_items*/, int64_t item, const int8_t* xq, const float* xd,
                 K4Loaded<T>& ld) {
    const uint8_t* b = row + kBlockBytes<T> * (item >> 2);
    ld.j = static_cast<int>(item & 3);
    load_16(b, ld.head);
    constexpr size_t kQs = T == LMX_TYPE_Q5_K ? offsetof(BlockQ5_K, qs) : offsetof(BlockQ4_K, qs);
    const uint8_t* qs = b + kQs + 32 * ld.j;
    load_16(qs, ld.qs);
    load_16(qs + 16, ld.qs + 4);
    if constexpr (T == LMX_TYPE_Q5_K) {
        load_16(b + 16, ld.qh);
        load_16(b + 32, ld.qh + 4);
    }
    const int8_t* x = xq + 64 * item;
LMX_UNROLL
    for (int k = 0; k < 4; ++k) load_16(x + 16 * k, ld.x + 4 * k);
    ld.dx = load_float(xd + (item >> 2));
}

// Scale and min of sub-block s from the 12 scale bytes (head words 1..3; bytes i, 4 + i and
// 8 + i are byte i & 3 of words 1, 2, 3). s is known only at run time: shifts, not array
// indexing (which would put head in local memory).
LMX_HD void k4_scale_min(const uint32_t (&head)[4], int s, int& sc, int& m) {
    const int t = 8 * (s & 3);
    const int a = static_cast<int>((head[1] >> t) & 0xFFu);  // byte s & 3
    const int b = static_cast<int>((head[2] >> t) & 0xFFu);  // byte 4 + (s & 3)
    const int c = static_cast<int>((head[3] >> t) & 0xFFu);  // byte 8 + (s & 3)
    if (s < 4) {
        sc = a & 63;
        m = b & 63;
    } else {
        sc = (c & 0xF) | ((a >> 6) << 4);
        m = (c >> 4) | ((b >> 6) << 4);
    }
}

template <int T>
LMX_HD float compute(const K4Loaded<T>& ld) {
    int sumi0 = 0, sumi1 = 0, sumx0 = 0, sumx1 = 0;
LMX_UNROLL
    for (int k = 0; k < 8; ++k) {
        uint32_t q0 = ld.qs[k] & 0x0F0F0F0Fu;
        uint32_t q1 = (ld.qs[k] >> 4) & 0x0F0F0F0Fu;
        if constexpr (T == LMX_TYPE_Q5_K) {
            q0 |= ((ld.qh[k] >> (2 * ld.j)) & 0x01010101u) << 4;
            q1 |= ((ld.qh[k] >> (2 * ld.j + 1)) & 0x01010101u) << 4;
        }
        sumi0 = dot4(static_cast<int>(q0), static_cast<int>(ld.x[k]), sumi0);
        sumi1 = dot4(static_cast<int>(q1), static_cast<int>(ld.x[8 + k]), sumi1);
        sumx0 = dot4(0x01010101, static_cast<int>(ld.x[k]), sumx0);
        sumx1 = dot4(0x01010101, static_cast<int>(ld.x[8 + k]), sumx1);
    }
    int sc0, m0, sc1, m1;
    k4_scale_min(ld.head, 2 * ld.j, sc0, m0);
    k4_scale_min(ld.head, 2 * ld.j + 1, sc1, m1);
    const float d = half_to_float(ld.head[0]) * ld.dx;
    const float dmin = half_to_float(ld.head[0] >> 16) * ld.dx;
    return d * static_cast<float>(sc0 * sumi0 + sc1 * sumi1) - dmin * static_cast<float>(m0 * sumx0 + m1 * sumx1);
}

// Q4_K rows split (cuda_stored_types.hpp): item i is sub-block s = i % 8 of super-block
// i / 8, its quants 16 bytes at row + 16 i in Q4_0's order (byte j: element j low, j + 16
// high), the super-block's 16-byte head after all the quants. One sub-block per lane, so
// a lane's activations are 32 bytes as for Q4_0; the value is the same formula for one
// sub-block (the pairs' sum in another order: within the K-quant bound, not bit for bit).
struct K4SplitLoaded {
    uint32_t head[4];
    uint32_t q[4];
    int s;
    uint32_t x[8];
    float dx;
};

LMX_HD void load(const uint8_t* row, int64_t n_items, int64_t i, const int8_t* xq, const float* xd,
                 K4SplitLoaded& ld) {
    load_16(row + 16 * i, ld.q);
    load_16(row + 16 * n_items + 16 * (i >> 3), ld.head);  // 16 n_items: the 128-byte bodies
    ld.s = static_cast<int>(i & 7);
    load_x32(xq + 32 * i, ld.x);
    ld.dx = load_float(xd + (i >> 3));
}

// One sub-block's value from its integer dot sumi and activation sum sumx: the formula of
// compute(K4Loaded) for one sub-block s.
LMX_HD float k4_sub_block_value(const uint32_t (&head)[4], int s, float dx, int sumi, int sumx) {
    int sc, m;
    k4_scale_min(head, s, sc, m);
    const float d = half_to_float(head[0]) * dx;
    const float dmin = half_to_float(head[0] >> 16) * dx;
    return d * static_cast<float>(sc * sumi) - dmin * static_cast<float>(m * sumx);
}

LMX_HD float compute(const K4SplitLoaded& ld) {
    int sumi = 0, sumx = 0;
LMX_UNROLL
    for (int k = 0; k < 4; ++k) {
        sumi = dot4(static_cast<int>(ld.q[k] & 0x0F0F0F0Fu), static_cast<int>(ld.x[k]), sumi);
        sumi = dot4(static_cast<int>((ld.q[k] >> 4) & 0x0F0F0F0Fu), static_cast<int>(ld.x[4 + k]), sumi);
        sumx = dot4(0x01010101, static_cast<int>(ld.x[k]), sumx);
        sumx = dot4(0x01010101, static_cast<int>(ld.x[4 + k]), sumx);
    }
    return k4_sub_block_value(ld.head, ld.s, ld.dx, sumi, sumx);
}

// Q5_K rows split: as split Q4_K, each super-block's body 160 bytes (the regrouped low bits,
// then one word of fifth bits per sub-block: bit l for element l), the heads after all the
// bodies (20 n_items bytes).
struct K5SplitLoaded : K4SplitLoaded {
    uint32_t h;
};

LMX_HD void load(const uint8_t* row, int64_t n_items, int64_t i, const int8_t* xq, const float* xd,
                 K5SplitLoaded& ld) {
    const uint8_t* body = row + 160 * (i >> 3);
    ld.s = static_cast<int>(i & 7);
    load_16(body + 16 * ld.s, ld.q);
    ld.h = load_word(body + 128 + 4 * ld.s);
    load_16(row + 20 * n_items + 16 * (i >> 3), ld.head);
    load_x32(xq + 32 * i, ld.x);
    ld.dx = load_float(xd + (i >> 3));
}

// Four bits b0..b3 (bits 0-3 of `nibble`, the rest zero) spread to bit 4 of four bytes: the
// four shifted copies the multiply adds do not overlap, so it is a shift-and-or.
LMX_HD uint32_t spread_to_bit4(uint32_t nibble) { return ((nibble * 0x00204081u) & 0x01010101u) << 4; }

LMX_HD float compute(const K5SplitLoaded& ld) {
    int sumi = 0, sumx = 0;
LMX_UNROLL
    for (int k = 0; k < 4; ++k) {
        const uint32_t low = (ld.q[k] & 0x0F0F0F0Fu) | spread_to_bit4((ld.h >> (4 * k)) & 0xFu);
        const uint32_t high = ((ld.q[k] >> 4) & 0x0F0F0F0Fu) | spread_to_bit4((ld.h >> (16 + 4 * k)) & 0xFu);
        sumi = dot4(static_cast<int>(low), static_cast<int>(ld.x[k]), sumi);
        sumi = dot4(static_cast<int>(high), static_cast<int>(ld.x[4 + k]), sumi);
        sumx = dot4(0x01010101, static_cast<int>(ld.x[k]), sumx);
        sumx = dot4(0x01010101, static_cast<int>(ld.x[4 + k]), sumx);
    }
    return k4_sub_block_value(ld.head, ld.s, ld.dx, sumi, sumx);
}

// ---- the kernels' view: a type's item size and loaded form; load and compute overload on it

// T: a stored type (the file's five, or a split type). Items of 32 elements but for the
// file's Q4_K / Q5_K (pairs of sub-blocks, 64).
template <int T>
struct Kind {
    static constexpr bool kSplit = is_split_type(T);
    static constexpr bool kLegacy = blocks_type(T) == LMX_TYPE_Q4_0 || blocks_type(T) == LMX_TYPE_Q8_0;
    static constexpr int kItemElems = T == LMX_TYPE_Q4_K || T == LMX_TYPE_Q5_K ? 64 : 32;
    using Loaded = std::conditional_t<
        kSplit && kLegacy, SplitLoaded<T>,
        std::conditional_t<
            kLegacy, Q8Loaded<T>,
            std::conditional_t<
                T == kStoredQ6_KSplit, Q6KSplitLoaded,
                std::conditional_t<
                    T == kStoredQ4_KSplit, K4SplitLoaded,
                    std::conditional_t<T == kStoredQ5_KSplit, K5SplitLoaded,
                                       std::conditional_t<T == LMX_TYPE_Q6_K, Q6KLoaded, K4Loaded<T>>>>>>>;
};

}  // namespace llamux::cuda::int8dot

#undef LMX_HD
#undef LMX_UNROLL
