#include "cpu_convert.hpp"

#include <immintrin.h>

#include <cstring>

#include "llamux/quant_ref.hpp"

namespace llamux::cpu {
namespace {

constexpr int64_t kChunk = 256;  // floats staged on the stack for a half-to-half conversion

__attribute__((target("avx2,f16c"))) void f32_to_f16_f16c(const float* x, f16_bits* y,
                                                           int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
    }
    for (; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

__attribute__((target("avx2,f16c"))) void f16_to_f32_f16c(const f16_bits* x, float* y,
                                                           int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
    for (; i < n; ++i) y[i] = f16_to_f32(x[i]);
}

void to_f32(int32_t type, const void* src, float* dst, int64_t n, Isa isa) {
    switch (type) {
        case LMX_TYPE_F16:
            if (isa >= Isa::Avx2) {
                f16_to_f32_f16c(static_cast<const f16_bits*>(src), dst, n);
            } else {
                const auto* h = static_cast<const f16_bits*>(src);
                for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
            }
            return;
        case LMX_TYPE_BF16: {
            const auto* h = static_cast<const bf16_bits*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
            return;
        }
        default:
            if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
    }
}

void from_f32(int32_t type, const float* src, void* dst, int64_t n, Isa isa) {
    switch (type) {
        case LMX_TYPE_F16:
            if (isa >= Isa::Avx2) {
                f32_to_f16_f16c(src, static_cast<f16_bits*>(dst), n);
            } else {
                auto* h = static_cast<f16_bits*>(dst);
                for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
            }
            return;
        case LMX_TYPE_BF16: {
            auto* h = static_cast<bf16_bits*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
            return;
        }
        default:
            if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
    }
}

}  // namespace

bool is_float_type(int32_t dtype) {
    return dtype == LMX_TYPE_F32 || dtype == LMX_TYPE_F16 || dtype == LMX_TYPE_BF16;
}

void convert_row(int32_t src_type, const void* src, int32_t dst_type, void* dst, int64_t n,
                 Isa isa) {
    if (src_type == LMX_TYPE_F32) return from_f32(dst_type, static_cast<const float*>(src), dst, n, isa);
    if (dst_type == LMX_TYPE_F32) return to_f32(src_type, src, static_cast<float*>(dst), n, isa);
    if (src_type == dst_type) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(uint16_t));
        return;
    }
    float tmp[kChunk];  // half to the other half: through float, a chunk at a time
    const auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; i += kChunk) {
        const int64_t len = n - i < kChunk ? n - i : kChunk;
        to_f32(src_type, s + i, tmp, len, isa);
        from_f32(dst_type, tmp, d + i, len, isa);
    }
}

}  // namespace llamux::cpu
