// Internal to the kernel files compiled with AVX2 + FMA + F16C (and the AVX-512 files, which
// include those sets): small vector helpers shared by the kernels. Every helper is static, so
// each file gets its own copy compiled with its own flags and no out-of-line copy with AVX
// instructions can be picked by the linker for a file compiled without them. For the same
// reason the kernel files use no standard-library templates that might be emitted out of
// line (std::min, std::max, containers).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "simd_avx2.hpp: compile this file with -mavx2 -mfma -mf16c"
#endif

namespace llamux::cpu::simd {

// Software prefetch distance for weight rows. The hardware prefetchers do not keep up with
// the 18-byte-block streams of the GEMV on the machines measured (a Q4_0 GEMV streaming from
// L3 ran at a quarter of its in-cache speed without this); 1-2 KiB ahead restores it.
constexpr size_t kPrefetchAhead = 1536;
static inline void prefetch_ahead(const void* p) {
    _mm_prefetch(static_cast<const char*>(p) + kPrefetchAhead, _MM_HINT_T0);
}
// Every cache line of a block of `bytes` bytes, kPrefetchAhead ahead.
static inline void prefetch_block_ahead(const void* p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) prefetch_ahead(static_cast<const char*>(p) + off);
}

// Loads a little-endian half from a possibly unaligned address and widens it (exact).
static inline float load_f16(const void* p) {
    uint16_t h = 0;
    std::memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}
// The same half in all 8 lanes (a broadcast load and one conversion; no scalar round trip).
static inline __m256 broadcast_f16(const void* p) {
    uint16_t h = 0;
    std::memcpy(&h, p, sizeof h);
    return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(h)));
}
static inline float load_f32(const void* p) {
    float f = 0.0f;
    std::memcpy(&f, p, sizeof f);
    return f;
}
static inline uint32_t load_u32(const void* p) {
    uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}
static inline uint16_t f32_to_f16_bits(float f) {
    return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline float hsum(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}
static inline float hsum(__m256 v) {
    return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}
static inline float hmax(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}
static inline int hsum_i32(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
    return _mm_cvtsi128_si32(x);
}

static inline __m256i loadu256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
static inline __m128i loadu128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

// 16 bytes of packed nibbles -> 32 bytes 0..15: byte j < 16 is the low nibble of qs[j],
// byte j + 16 the high nibble of qs[j] (the element order of the 32-element blocks).
// The 16 bytes are loaded into both halves (a load, no shuffle) and the high half shifted:
// the shuffle port is the tiles' scarcest.
static inline __m256i nibbles_lo_hi(const uint8_t* qs) {
    const __m256i x = _mm256_broadcastsi128_si256(loadu128(qs));
    const __m256i both = _mm256_blend_epi32(x, _mm256_srli_epi16(x, 4), 0xF0);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes: byte j is 0xFF where bit j of `bits` is set, else 0.
static inline __m256i bits_to_bytes(uint32_t bits) {
    // Byte j takes byte j / 8 of `bits`, then keeps only its bit j % 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                           0x0303030303030303));
    const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// Sums of 4 adjacent products of unsigned bytes u (<= 127 for exactness: each pair sum must
// fit int16) with signed bytes s, as 8 int32 lanes.
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// The same for signed x signed bytes in -127..127 (|x| moves the sign onto y).
static inline __m256i dot_s8s8(__m256i x, __m256i y) {
    return dot_u8s8(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
}

// Packs the int32 lanes of up to 4 column sums into one vector: lane c of each 128-bit half
// holds a partial sum of s[c] (the two halves add up to the whole). Columns >= nc are zero.
template <int NC>
static inline __m256i pack_columns(const __m256i* s) {
    if constexpr (NC == 1) {
        return s[0];
    } else {
        const __m256i zero = _mm256_setzero_si256();
        const __m256i h01 = _mm256_hadd_epi32(s[0], s[1]);
        __m256i h23 = zero;
        if constexpr (NC == 3) h23 = _mm256_hadd_epi32(s[2], zero);
        if constexpr (NC == 4) h23 = _mm256_hadd_epi32(s[2], s[3]);
        return _mm256_hadd_epi32(h01, h23);
    }
}

// pack_columns for maddubs results (16 int16 lanes per column, before the widening madd):
// two rounds of 16-bit horizontal adds, then one madd, instead of a madd per column. Exact
// while a sum of 8 products fits int16: unsigned quants <= 31 times int8 activations
// (8 * 31 * 128 = 31744), which holds for the 4- and 5-bit types, not for Q8_0.
template <int NC>
static inline __m256i pack_columns16(const __m256i* s) {
    const __m256i ones = _mm256_set1_epi16(1);
    if constexpr (NC == 1) {
        return _mm256_madd_epi16(s[0], ones);
    } else {
        const __m256i zero = _mm256_setzero_si256();
        const __m256i h01 = _mm256_hadd_epi16(s[0], s[1]);
        __m256i h23 = zero;
        if constexpr (NC == 3) h23 = _mm256_hadd_epi16(s[2], zero);
        if constexpr (NC == 4) h23 = _mm256_hadd_epi16(s[2], s[3]);
        return _mm256_madd_epi16(_mm256_hadd_epi16(h01, h23), ones);
    }
}

// Per-column float scales laid out as pack_columns lays out the sums: [v0..v3 | v0..v3] (or v0
// broadcast for one column).
template <int NC>
static inline __m256 column_vector(const float* v) {
    if constexpr (NC == 1) {
        return _mm256_set1_ps(v[0]);
    } else {
        const __m128 x = _mm_setr_ps(v[0], v[1], NC > 2 ? v[2] : 0.0f, NC > 3 ? v[3] : 0.0f);
        return _mm256_set_m128(x, x);
    }
}

// Writes accumulators laid out by pack_columns: dst[c * ldd + r] = column c of acc[r].
template <int NR, int NC>
static inline void store_tile(const __m256* acc, float* dst, size_t ldd) {
    for (int r = 0; r < NR; ++r) {
        if constexpr (NC == 1) {
            dst[r] = hsum(acc[r]);
        } else {
            const __m128 x =
                _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
            float lanes[4];
            _mm_storeu_ps(lanes, x);
            for (int c = 0; c < NC; ++c) dst[static_cast<size_t>(c) * ldd + r] = lanes[c];
        }
    }
}

// Runs Kernel::template run<NR, NC>(args...) for runtime nr, nc in 1..4.
template <template <int, int> class Kernel, typename... Args>
static inline void dispatch_tile(int nr, int nc, Args... args) {
#define LLAMUX_TILE_CASE(R, C) \
    case (R - 1) * 4 + (C - 1): return Kernel<R, C>::run(args...);
    switch ((nr - 1) * 4 + (nc - 1)) {
        LLAMUX_TILE_CASE(1, 1) LLAMUX_TILE_CASE(1, 2) LLAMUX_TILE_CASE(1, 3) LLAMUX_TILE_CASE(1, 4)
        LLAMUX_TILE_CASE(2, 1) LLAMUX_TILE_CASE(2, 2) LLAMUX_TILE_CASE(2, 3) LLAMUX_TILE_CASE(2, 4)
        LLAMUX_TILE_CASE(3, 1) LLAMUX_TILE_CASE(3, 2) LLAMUX_TILE_CASE(3, 3) LLAMUX_TILE_CASE(3, 4)
        LLAMUX_TILE_CASE(4, 1) LLAMUX_TILE_CASE(4, 2) LLAMUX_TILE_CASE(4, 3) LLAMUX_TILE_CASE(4, 4)
        default: return;
    }
#undef LLAMUX_TILE_CASE
}

template <typename T>
static inline const T* row_at(const void* base, size_t stride, int r) {
    return reinterpret_cast<const T*>(static_cast<const unsigned char*>(base) +
                                      static_cast<size_t>(r) * stride);
}

}  // namespace llamux::cpu::simd
