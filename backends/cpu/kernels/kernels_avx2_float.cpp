// AVX2 + FMA + F16C kernels for plain float rows: F32 x F32, F16 x F16, BF16 x BF16, and
// the F32 -> F16 / BF16 activation converters. Compiled only with -mavx2 -mfma -mf16c;
// called only after detect_isa() found AVX2.
//
// Halves are widened exactly (F16C; bf16 by a shift) and multiplied-added with FMA in
// 8-lane float accumulators: results differ from the scalar twins (one rounding per product,
// sums in index order) only by rounding order. The converters are bit-exact.
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

// ---- element formats: 8 elements at p as floats, and one element ------------------------

struct F32E {
    using T = float;
    static __m256 load8(const T* p) { return _mm256_loadu_ps(p); }
    static float one(const T* p) { return *p; }
};
struct F16E {
    using T = uint16_t;
    static __m256 load8(const T* p) { return _mm256_cvtph_ps(loadu128(p)); }
    static float one(const T* p) { return _cvtsh_ss(*p); }
};
struct BF16E {
    using T = uint16_t;
    static __m256 load8(const T* p) {
        const __m256i wide = _mm256_cvtepu16_epi32(loadu128(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
    }
    static float one(const T* p) {
        const uint32_t bits = static_cast<uint32_t>(*p) << 16;
        float f = 0.0f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
};

template <typename E>
float float_dot(int64_t n, const void* wv, const void* av) {
    const auto* w = static_cast<const typename E::T*>(wv);
    const auto* a = static_cast<const typename E::T*>(av);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_block_ahead(w + i, 32 * sizeof(typename E::T));
        acc0 = _mm256_fmadd_ps(E::load8(w + i), E::load8(a + i), acc0);
        acc1 = _mm256_fmadd_ps(E::load8(w + i + 8), E::load8(a + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(E::load8(w + i + 16), E::load8(a + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(E::load8(w + i + 24), E::load8(a + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(E::load8(w + i), E::load8(a + i), acc0);
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; ++i) sum += E::one(w + i) * E::one(a + i);
    return sum;
}

// NR rows x NC (<= 2) columns over the whole row, one 8-lane accumulator per pair: with 16
// vector registers, 4 x 2 accumulators plus the loaded rows is what fits without spilling.
template <typename E>
struct FloatTile {
    template <int NR, int NC>
    struct Kernel {
        static void run(int64_t n, const void* w, size_t w_stride, const void* a,
                        size_t a_stride, float* dst, size_t ldd) {
            using T = typename E::T;
            const T* wr[NR];
            const T* ac[NC];
            for (int r = 0; r < NR; ++r) wr[r] = row_at<T>(w, w_stride, r);
            for (int c = 0; c < NC; ++c) ac[c] = row_at<T>(a, a_stride, c);
            __m256 acc[NR][NC];
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
            }
            int64_t i = 0;
            for (; i + 8 <= n; i += 8) {
                if (i % 32 == 0) {
                    for (int r = 0; r < NR; ++r) prefetch_ahead(wr[r] + i);
                }
                __m256 av[NC];
                for (int c = 0; c < NC; ++c) av[c] = E::load8(ac[c] + i);
                for (int r = 0; r < NR; ++r) {
                    const __m256 wv = E::load8(wr[r] + i);
                    for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
                }
            }
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) {
                    float sum = hsum(acc[r][c]);
                    for (int64_t j = i; j < n; ++j) sum += E::one(wr[r] + j) * E::one(ac[c] + j);
                    dst[static_cast<size_t>(c) * ldd + r] = sum;
                }
            }
        }
    };
};

template <typename E>
void float_tile(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride,
                float* dst, size_t ldd, int nr, int nc) {
    // Columns in pairs; the second pass reads the NR weight rows from cache, not memory.
    for (int c0 = 0; c0 < nc; c0 += 2) {
        const int cols = nc - c0 < 2 ? nc - c0 : 2;
        const void* ac = static_cast<const unsigned char*>(a) + static_cast<size_t>(c0) * a_stride;
        dispatch_tile<FloatTile<E>::template Kernel>(nr, cols, n, w, w_stride, ac, a_stride,
                                                     dst + static_cast<size_t>(c0) * ldd, ldd);
    }
}

}  // namespace

float f32_dot_avx2(int64_t n, const void* w, const void* a) { return float_dot<F32E>(n, w, a); }
float f16_dot_avx2(int64_t n, const void* w, const void* a) { return float_dot<F16E>(n, w, a); }
float bf16_dot_avx2(int64_t n, const void* w, const void* a) { return float_dot<BF16E>(n, w, a); }

void f32_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                   size_t ldd, int nr, int nc) {
    float_tile<F32E>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void f16_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                   size_t ldd, int nr, int nc) {
    float_tile<F16E>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void bf16_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    float_tile<BF16E>(n, w, ws, a, as, dst, ldd, nr, nc);
}

// F32 -> F16 with F16C, round to nearest even (what f32_to_f16 reproduces, NaN included).
void f16_from_float_avx2(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
    }
    for (; i < n; ++i) y[i] = f32_to_f16_bits(x[i]);
}

// F32 -> BF16 as f32_to_bf16: round half to even on the dropped 16 bits; NaN is truncated
// with the quiet bit forced.
void bf16_from_float_avx2(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i inf = _mm256_set1_epi32(0x7F800000);
    for (; i + 16 <= n; i += 16) {
        __m256i h[2];
        for (int k = 0; k < 2; ++k) {
            const __m256i v = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
            const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(v, 16), _mm256_set1_epi32(1));
            const __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(v, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb)), 16);
            const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(v, 16), _mm256_set1_epi32(0x40));
            const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, abs_mask), inf);
            h[k] = _mm256_blendv_epi8(rounded, quiet, is_nan);
        }
        // packus per 128-bit lane: h0[0..3] h1[0..3] | h0[4..7] h1[4..7]; reorder the quads.
        const __m256i packed = _mm256_packus_epi32(h[0], h[1]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                            _mm256_permute4x64_epi64(packed, 0xD8));
    }
    for (; i < n; ++i) {
        uint32_t v = 0;
        std::memcpy(&v, x + i, sizeof v);
        if ((v & 0x7FFFFFFFu) > 0x7F800000u) {
            y[i] = static_cast<uint16_t>((v >> 16) | 0x40u);
        } else {
            y[i] = static_cast<uint16_t>((v + 0x7FFFu + ((v >> 16) & 1u)) >> 16);
        }
    }
}

}  // namespace llamux::cpu
