// AVX-512 (F, BW, VL) kernels for plain float rows: F32 x F32, F16 x F16, BF16 x BF16.
// Compiled only with the AVX-512 flags; called only after detect_isa() found them. The
// F32 -> F16 / BF16 converters stay the AVX2 ones.
//
// As kernels_avx2_float.cpp, 16 lanes wide; with 32 vector registers the tile keeps all
// 4 x 4 accumulators in registers, so every converted weight and activation vector is used
// 4 times. Row tails use masked loads (zeros in both operands add nothing).
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include "kernels_internal.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

struct F32Z {
    using T = float;
    static __m512 load16(const T* p) { return _mm512_loadu_ps(p); }
    static __m512 load_tail(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16Z {
    using T = uint16_t;
    static __m512 load16(const T* p) { return _mm512_cvtph_ps(loadu256(p)); }
    static __m512 load_tail(const T* p, __mmask16 m) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    }
};
struct BF16Z {
    using T = uint16_t;
    static __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static __m512 load16(const T* p) { return widen(loadu256(p)); }
    static __m512 load_tail(const T* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

inline __mmask16 tail_mask(int64_t left) {
    return _cvtu32_mask16(static_cast<uint32_t>((1u << left) - 1u));
}

template <typename E>
float float_dot(int64_t n, const void* wv, const void* av) {
    const auto* w = static_cast<const typename E::T*>(wv);
    const auto* a = static_cast<const typename E::T*>(av);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_block_ahead(w + i, 64 * sizeof(typename E::T));
        acc0 = _mm512_fmadd_ps(E::load16(w + i), E::load16(a + i), acc0);
        acc1 = _mm512_fmadd_ps(E::load16(w + i + 16), E::load16(a + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(E::load16(w + i + 32), E::load16(a + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(E::load16(w + i + 48), E::load16(a + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(E::load16(w + i), E::load16(a + i), acc0);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(E::load_tail(w + i, m), E::load_tail(a + i, m), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

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
            __m512 acc[NR][NC];
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
            }
            int64_t i = 0;
            for (; i + 16 <= n; i += 16) {
                if (i % 64 == 0) {
                    for (int r = 0; r < NR; ++r) prefetch_ahead(wr[r] + i);
                }
                __m512 av[NC];
                for (int c = 0; c < NC; ++c) av[c] = E::load16(ac[c] + i);
                for (int r = 0; r < NR; ++r) {
                    const __m512 wv = E::load16(wr[r] + i);
                    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(wv, av[c], acc[r][c]);
                }
            }
            if (i < n) {
                const __mmask16 m = tail_mask(n - i);
                __m512 av[NC];
                for (int c = 0; c < NC; ++c) av[c] = E::load_tail(ac[c] + i, m);
                for (int r = 0; r < NR; ++r) {
                    const __m512 wv = E::load_tail(wr[r] + i, m);
                    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(wv, av[c], acc[r][c]);
                }
            }
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) {
                    dst[static_cast<size_t>(c) * ldd + r] = _mm512_reduce_add_ps(acc[r][c]);
                }
            }
        }
    };
};

template <typename E>
void float_tile(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride,
                float* dst, size_t ldd, int nr, int nc) {
    dispatch_tile<FloatTile<E>::template Kernel>(nr, nc, n, w, w_stride, a, a_stride, dst, ldd);
}

}  // namespace

float f32_dot_avx512(int64_t n, const void* w, const void* a) { return float_dot<F32Z>(n, w, a); }
float f16_dot_avx512(int64_t n, const void* w, const void* a) { return float_dot<F16Z>(n, w, a); }
float bf16_dot_avx512(int64_t n, const void* w, const void* a) { return float_dot<BF16Z>(n, w, a); }

void f32_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                     size_t ldd, int nr, int nc) {
    float_tile<F32Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void f16_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                     size_t ldd, int nr, int nc) {
    float_tile<F16Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void bf16_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    float_tile<BF16Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}

}  // namespace llamux::cpu
