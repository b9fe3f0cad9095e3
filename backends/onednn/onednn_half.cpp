// Row conversions between f32 and the KV cache types (f16, bf16), in plain C++.
//
// oneDNN 2.6 converts f16 only in its reference reorder ("simple:any"), measured at about
// 140 ns an element here: far too slow for the KV cache. F16C does it 8 at a time; the
// scalar twins (llamux::f16_to_f32 / f32_to_f16) serve CPUs without it and the tails.
// Rounding is to nearest even everywhere, as the reference's conversions.
#include <immintrin.h>

#include <bit>
#include <cstring>

#include "llamux/quant_ref.hpp"
#include "onednn_half.hpp"

namespace llamux::onednn {
namespace {

bool have_f16c() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    }();
    return yes;
}

__attribute__((target("avx,f16c"))) void f16_to_f32_f16c(const uint16_t* src, float* dst,
                                                          int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

__attribute__((target("avx,f16c"))) void f32_to_f16_f16c(const float* src, uint16_t* dst,
                                                          int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    }
    for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

__attribute__((target("avx,f16c"))) void round_f16_f16c(float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) x[i] = f16_to_f32(f32_to_f16(x[i]));
}

// As llamux::f32_to_bf16, inlined so the loops vectorize.
inline uint16_t bf16_round(float f) {
    const uint32_t x = std::bit_cast<uint32_t>(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x0040u);
    return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

inline float bf16_value(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

}  // namespace

void half_to_f32(int32_t dtype, const void* src, float* dst, int64_t n) {
    switch (dtype) {
        case LMX_TYPE_F16: {
            const auto* h = static_cast<const uint16_t*>(src);
            if (have_f16c()) {
                f16_to_f32_f16c(h, dst, n);
            } else {
                for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
            }
            return;
        }
        case LMX_TYPE_BF16: {
            const auto* h = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_value(h[i]);
            return;
        }
        default:
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
    }
}

void f32_to_half(int32_t dtype, const float* src, void* dst, int64_t n) {
    switch (dtype) {
        case LMX_TYPE_F16: {
            auto* h = static_cast<uint16_t*>(dst);
            if (have_f16c()) {
                f32_to_f16_f16c(src, h, n);
            } else {
                for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
            }
            return;
        }
        case LMX_TYPE_BF16: {
            auto* h = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = bf16_round(src[i]);
            return;
        }
        default:
            std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
    }
}

void round_to(int32_t dtype, float* x, int64_t n) {
    switch (dtype) {
        case LMX_TYPE_F16:
            if (have_f16c()) {
                round_f16_f16c(x, n);
            } else {
                for (int64_t i = 0; i < n; ++i) x[i] = f16_to_f32(f32_to_f16(x[i]));
            }
            return;
        case LMX_TYPE_BF16:
            for (int64_t i = 0; i < n; ++i) x[i] = bf16_value(bf16_round(x[i]));
            return;
        default:
            return;
    }
}

}  // namespace llamux::onednn
