// AVX-512 pieces shared by the attention kernels that use it (cpu_attention_avx512.cpp,
// cpu_attention_row_avx512.cpp): cache loads (F32, F16 and the 32-value block types), q as
// the K cache's vec_dot_type sees it, f16 rounding and exp. Functions carry their
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
#include <cstring>
#include <type_traits>

#include "cpu_attention.hpp"
#include "kernels/kernels.hpp"
#include "llamux/backend_abi.h"
#include "llamux/quant_blocks.hpp"

#define LMX_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace llamux::cpu {

LMX_AVX512 inline float half_at(const f16_bits* h) {
    return _cvtsh_ss(*reinterpret_cast<const uint16_t*>(h));
}

// Values 16 * half .. 16 * half + 15 of a block, as dequantize_row_ref gives them (d * q, or
// d * q + m for the types with a minimum; the 5th bit of Q5 quants from bit j of qh).
template <typename Block>
LMX_AVX512 inline __m512 block_half(const Block& b, int half) {
    __m512i q;
    if constexpr (std::is_same_v<Block, BlockQ8_0>) {
        q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16 * half)));
    } else {
        const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
        q = half ? _mm512_srli_epi32(bytes, 4) : _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F));
        if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>) {
            uint32_t qh;
            std::memcpy(&qh, b.qh, sizeof qh);
            const auto high = static_cast<__mmask16>(qh >> (16 * half));
            q = _mm512_mask_or_epi32(q, high, q, _mm512_set1_epi32(0x10));
        }
        if constexpr (std::is_same_v<Block, BlockQ4_0>) q = _mm512_sub_epi32(q, _mm512_set1_epi32(8));
        if constexpr (std::is_same_v<Block, BlockQ5_0>) q = _mm512_sub_epi32(q, _mm512_set1_epi32(16));
    }
    const __m512 d = _mm512_set1_ps(half_at(&b.d));
    if constexpr (std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>) {
        return _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(q), _mm512_set1_ps(half_at(&b.m)));
    } else {
        return _mm512_mul_ps(d, _mm512_cvtepi32_ps(q));
    }
}

template <typename Block>
LMX_AVX512 inline __m512 blocks16(const std::byte* row, int64_t i) {
    return block_half(reinterpret_cast<const Block*>(row)[i / 32], static_cast<int>((i / 16) % 2));
}

// 16 cache values from element i (a multiple of 16) of a row of type dtype, as float.
template <CacheKind C>
LMX_AVX512 inline __m512 load16(int32_t dtype, const std::byte* row, int64_t i) {
    if constexpr (C == CacheKind::F16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(row + 2 * static_cast<size_t>(i))));
    } else if constexpr (C == CacheKind::F32) {
        return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else {
        switch (dtype) {
            case LMX_TYPE_Q4_0: return blocks16<BlockQ4_0>(row, i);
            case LMX_TYPE_Q4_1: return blocks16<BlockQ4_1>(row, i);
            case LMX_TYPE_Q5_0: return blocks16<BlockQ5_0>(row, i);
            case LMX_TYPE_Q5_1: return blocks16<BlockQ5_1>(row, i);
            default: return blocks16<BlockQ8_0>(row, i);
        }
    }
}

LMX_AVX512 inline __m512 round_f16(__m512 x) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// out[0 .. D) = q as the dot with a key of kind K sees it (ggml's vec_dot_type): as is (F32),
// rounded to f16 (F16), or quantized to Q8_0 by the activation quantizer and dequantized
// (Blocks). D is a multiple of 16, of 32 for Blocks.
template <CacheKind K>
LMX_AVX512 inline void q_for_keys(const float* q, float* out, int64_t D) {
    if constexpr (K == CacheKind::Blocks) {
        BlockQ8_0 blocks[kMaxBlockHeadDim / 32];
        kernels_for(DType::Q8_0, Isa::Avx2)->from_float(q, blocks, D);
        for (int64_t d = 0; d < D; d += 16) {
            const auto* bytes = reinterpret_cast<const std::byte*>(blocks);
            _mm512_storeu_ps(out + d, load16<CacheKind::Blocks>(LMX_TYPE_Q8_0, bytes, d));
        }
    } else {
        for (int64_t d = 0; d < D; d += 16) {
            const __m512 x = _mm512_loadu_ps(q + d);
            _mm512_storeu_ps(out + d, K == CacheKind::F16 ? round_f16(x) : x);
        }
    }
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
