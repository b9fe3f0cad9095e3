// AVX-512 pieces shared by the attention kernels that use it (cpu_attention_avx512.cpp,
// cpu_attention_row_avx512.cpp): cache loads, f16 rounding and exp. Functions carry their
// own target attribute, so this header is included by files built without AVX-512 flags.
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and trip -W(maybe-)uninitialized
// inside its own header when inlined (GCC bug 105593, as in kernels/simd_avx512.hpp): false.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#define LMX_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace llamux::cpu {

// 16 cache values from element i of a row, as float.
template <bool F16>
LMX_AVX512 inline __m512 load16(const std::byte* row, int64_t i) {
    if constexpr (F16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(row + 2 * static_cast<size_t>(i))));
    } else {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    }
}

LMX_AVX512 inline __m512 round_f16(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// exp(x) for x <= 0 (-inf gives 0), within about 1 ulp of std::exp: x = n ln2 + r with
// |r| <= ln2/2 (ln2 in two parts), exp(r) by Cephes' expf polynomial, times 2^n by scalef
// (which rounds results in the subnormal range once, as std::exp does).
LMX_AVX512 inline __m512 exp_nonpositive(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // exp(-104) rounds to 0
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r);
    return _mm512_scalef_ps(_mm512_add_ps(y, _mm512_set1_ps(1.0f)), n);
}

}  // namespace llamux::cpu
