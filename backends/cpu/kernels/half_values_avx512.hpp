// Internal to the AVX-512 kernel files: 16-bit float values (F16, BF16) widened to f32,
// exactly, 16 at a time.
#pragma once

#include <cstdint>

#include "simd_avx512.hpp"

namespace llamux::cpu::half {

struct F16 {
    static __m512 widen(__m256i h) { return _mm512_cvtph_ps(h); }
};
struct BF16 {
    static __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
};

// Up to 16 values from p (count of them, the rest zero), widened. Reads nothing past the
// count.
template <typename V>
inline __m512 load_widened(const uint16_t* p, int64_t count) {
    const __mmask16 m = count >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << count) - 1);
    return V::widen(_mm256_maskz_loadu_epi16(m, p));
}

}  // namespace llamux::cpu::half
