// Internal to the kernel files compiled with AVX-512 F/BW/VL/VNNI (plus AVX2, FMA, F16C):
// helpers on top of simd_avx2.hpp. Static, for the same reason as there.
#pragma once

// GCC 12's AVX-512 intrinsics (_mm512_castsi256_si512, _mm512_extracti64x4_epi64,
// _mm512_cvtph_ps, ...) start from _mm512_undefined_*() and trip -W(maybe-)uninitialized
// inside its own header when inlined (GCC bug 105593). The warnings are false; silence
// them for the files that include this header (it must come before <immintrin.h>).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "simd_avx2.hpp"

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
    !defined(__AVX512VNNI__)
#error "simd_avx512.hpp: compile this file with -mavx512f -mavx512bw -mavx512vl -mavx512vnni"
#endif

namespace llamux::cpu::simd {

static inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Lane i = i * stride: byte offsets of 16 columns (or rows) stride bytes apart, for gathers
// and scatters.
static inline __m512i lane_offsets(size_t stride) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(static_cast<int>(stride)));
}

// The first `bytes` (<= 64) bytes at p; the rest zero. Masked: never touches memory past
// p + bytes, so it is safe at the end of a row.
static inline __m512i load_first(const void* p, int bytes) {
    const uint64_t mask = bytes >= 64 ? ~0ull : ((1ull << bytes) - 1);
    return _mm512_maskz_loadu_epi8(_cvtu64_mask64(mask), p);
}

// Two 32-byte rows side by side: [p0[0..32) | p1[0..32)].
static inline __m512i load_2x256(const void* p0, const void* p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(loadu256(p0)), loadu256(p1), 1);
}

// A vector of 32 word indices for vpermw, from a table.
static inline __m512i word_index(const uint16_t (&idx)[32]) { return load512(idx); }

}  // namespace llamux::cpu::simd
