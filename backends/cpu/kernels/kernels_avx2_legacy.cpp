// AVX2 + FMA + F16C kernels for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)
// against Q8_0 activations, and the Q8_0 activation quantizer. Compiled only with
// -mavx2 -mfma -mf16c; called only after detect_isa() found AVX2.
//
// One 32-element block is one 256-bit vector of quants. In vec_dot, symmetric types (Q4_0,
// Q5_0, Q8_0) are unpacked to signed bytes and multiplied with the sign trick
// (|w| x sign(a, w)); the types with a min (Q4_1, Q5_1) stay unsigned and add m_w d_a sum(a),
// as vec_dot_ref does (see graph/src/quant_legacy.cpp). The tiles (prompts) multiply the
// 4- and 5-bit types as unsigned bytes (Q4_0, Q5_0: q + 8, q + 16) and take the offset back
// as offset * sum(a), computed once per activation block for all rows: no sign trick per
// product, and column sums packed in 16 bits (pack_columns16). Integer sums are exact; only
// float rounding order differs from the reference.
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

// ---- weight formats: quants of one block as 32 bytes in element order -------------------

// quants: signed (or, with kMin, unsigned) values; unsigned_quants: the 4- and 5-bit types'
// stored values 0..15 / 0..31, which are quants + kOffset (kNarrow: the tiles' 16-bit path).

// 0..31: the nibble with bit 4 from qh.
inline __m256i five_bit_quants(const uint8_t* qs, const uint8_t* qh) {
    const __m256i high = bits_to_bytes(load_u32(qh));
    return _mm256_or_si256(nibbles_lo_hi(qs), _mm256_and_si256(high, _mm256_set1_epi8(0x10)));
}

struct Q4_0W {
    using Block = BlockQ4_0;
    static constexpr bool kMin = false, kNarrow = true;
    static constexpr int kOffset = 8;
    static __m256i unsigned_quants(const Block& b) { return nibbles_lo_hi(b.qs); }
    static __m256i quants(const Block& b) {  // -8..7
        return _mm256_sub_epi8(unsigned_quants(b), _mm256_set1_epi8(kOffset));
    }
};
struct Q5_0W {
    using Block = BlockQ5_0;
    static constexpr bool kMin = false, kNarrow = true;
    static constexpr int kOffset = 16;
    static __m256i unsigned_quants(const Block& b) { return five_bit_quants(b.qs, b.qh); }
    static __m256i quants(const Block& b) {  // -16..15
        return _mm256_sub_epi8(unsigned_quants(b), _mm256_set1_epi8(kOffset));
    }
};
struct Q8_0W {
    using Block = BlockQ8_0;
    static constexpr bool kMin = false, kNarrow = false;
    static __m256i quants(const Block& b) { return loadu256(b.qs); }
};
struct Q4_1W {
    using Block = BlockQ4_1;
    static constexpr bool kMin = true, kNarrow = true;
    static constexpr int kOffset = 0;
    static __m256i unsigned_quants(const Block& b) { return nibbles_lo_hi(b.qs); }  // 0..15
    static __m256i quants(const Block& b) { return unsigned_quants(b); }
};
struct Q5_1W {
    using Block = BlockQ5_1;
    static constexpr bool kMin = true, kNarrow = true;
    static constexpr int kOffset = 0;
    static __m256i unsigned_quants(const Block& b) { return five_bit_quants(b.qs, b.qh); }  // 0..31
    static __m256i quants(const Block& b) { return unsigned_quants(b); }
};

// acc += the block's terms, lane-wise (8 partial sums).
template <typename W>
inline __m256 block_step(const typename W::Block& w, const BlockQ8_0& a, __m256 acc) {
    const __m256i q = W::quants(w);
    const __m256i aq = loadu256(a.qs);
    const float da = load_f16(&a.d);
    const float dw = load_f16(&w.d);
    if constexpr (W::kMin) {
        const __m256i s = dot_u8s8(q, aq);
        const __m256i sa = dot_u8s8(_mm256_set1_epi8(1), aq);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(s), acc);
        return _mm256_fmadd_ps(_mm256_set1_ps(load_f16(&w.m) * da), _mm256_cvtepi32_ps(sa), acc);
    } else {
        const __m256i s = dot_s8s8(q, aq);
        return _mm256_fmadd_ps(_mm256_set1_ps(dw * da), _mm256_cvtepi32_ps(s), acc);
    }
}

template <typename W>
float legacy_dot(int64_t n, const void* wv, const void* av) {
    const auto* w = static_cast<const typename W::Block*>(wv);
    const auto* a = static_cast<const BlockQ8_0*>(av);
    const int64_t nb = n / kQK8_0;
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        prefetch_ahead(w + i);
        acc0 = block_step<W>(w[i], a[i], acc0);
        acc1 = block_step<W>(w[i + 1], a[i + 1], acc1);
    }
    if (i < nb) acc0 = block_step<W>(w[i], a[i], acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

// NR weight rows x NC activation columns: each weight block is unpacked once and used for
// all NC columns; the NC column sums of a row are packed into one vector (pack_columns),
// so a row needs one accumulator.
//
// The 4- and 5-bit types (kNarrow) multiply their unsigned values u = q + kOffset with the
// signed activations, sum(u a) - kOffset sum(a) = sum(q a), with the column sums packed in
// 16 bits; per activation block kOffset * sum(a) (or, with kMin, sum(a)) is formed once for
// all NR rows. Q8_0 (values up to 127: 16-bit sums would overflow) keeps the sign trick.
// On a Xeon (Sapphire Rapids) capped to AVX2, one thread, Q4_0 4x4 tiles went from 36.7 to
// 48 GMAC/s with this form (tile micro-benchmark; llamux_bench_kernels reports the figure).
template <typename W>
struct LegacyTile {
    template <int NR, int NC>
    struct Kernel {
        static void run(int64_t n, const void* w, size_t w_stride, const void* a,
                        size_t a_stride, float* dst, size_t ldd) {
            using Block = typename W::Block;
            const int64_t nb = n / kQK8_0;
            const Block* wr[NR];
            const BlockQ8_0* ac[NC];
            for (int r = 0; r < NR; ++r) wr[r] = row_at<Block>(w, w_stride, r);
            for (int c = 0; c < NC; ++c) ac[c] = row_at<BlockQ8_0>(a, a_stride, c);
            __m256 acc[NR];
            for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
            for (int64_t i = 0; i < nb; ++i) {
                if (i % 4 == 0) {
                    for (int r = 0; r < NR; ++r) prefetch_ahead(wr[r] + i);
                }
                float da[4];
                __m256i aq[NC];
                for (int c = 0; c < NC; ++c) {
                    da[c] = load_f16(&ac[c][i].d);
                    aq[c] = loadu256(ac[c][i].qs);
                }
                const __m256 dav = column_vector<NC>(da);
                if constexpr (W::kNarrow) {
                    narrow_block(wr, i, aq, dav, acc);
                } else {
                    for (int r = 0; r < NR; ++r) {
                        const Block& b = wr[r][i];
                        const __m256i q = W::quants(b);
                        const __m256i absq = _mm256_abs_epi8(q);
                        __m256i s[NC];
                        for (int c = 0; c < NC; ++c) s[c] = dot_u8s8(absq, _mm256_sign_epi8(aq[c], q));
                        const __m256 scale = _mm256_mul_ps(broadcast_f16(&b.d), dav);
                        acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(pack_columns<NC>(s)), acc[r]);
                    }
                }
            }
            store_tile<NR, NC>(acc, dst, ldd);
        }

        // One block of every row, the 4- and 5-bit types (see above).
        static inline void narrow_block(const typename W::Block* const* wr, int64_t i, const __m256i* aq,
                                        __m256 dav, __m256* acc) {
            // Per column: kOffset * sum(a) to subtract, or sum(a) for the min term.
            __m256i sa[NC];
            const __m256i factor = _mm256_set1_epi8(W::kMin ? 1 : W::kOffset);
            for (int c = 0; c < NC; ++c) sa[c] = _mm256_maddubs_epi16(factor, aq[c]);
            const __m256i col_sums = pack_columns16<NC>(sa);
            const __m256 suma = _mm256_cvtepi32_ps(col_sums);
            for (int r = 0; r < NR; ++r) {
                const auto& b = wr[r][i];
                const __m256i u = W::unsigned_quants(b);
                __m256i s[NC];
                for (int c = 0; c < NC; ++c) s[c] = _mm256_maddubs_epi16(u, aq[c]);
                __m256i sums = pack_columns16<NC>(s);
                if constexpr (!W::kMin) sums = _mm256_sub_epi32(sums, col_sums);
                const __m256 scale = _mm256_mul_ps(broadcast_f16(&b.d), dav);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums), acc[r]);
                if constexpr (W::kMin) {
                    const __m256 mscale = _mm256_mul_ps(broadcast_f16(&b.m), dav);
                    acc[r] = _mm256_fmadd_ps(mscale, suma, acc[r]);
                }
            }
        }
    };
};

template <typename W>
void legacy_tile(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride,
                 float* dst, size_t ldd, int nr, int nc) {
    dispatch_tile<LegacyTile<W>::template Kernel>(nr, nc, n, w, w_stride, a, a_stride, dst, ldd);
}

// 4 x 8 int32 in -127..127 -> 32 int8 in order.
inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0..3 b0..3 | a4..7 b4..7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);  // a0..3 b0..3 c0..3 d0..3 | a4.. b4.. c4.. d4..
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

float q4_0_dot_avx2(int64_t n, const void* w, const void* a) { return legacy_dot<Q4_0W>(n, w, a); }
float q4_1_dot_avx2(int64_t n, const void* w, const void* a) { return legacy_dot<Q4_1W>(n, w, a); }
float q5_0_dot_avx2(int64_t n, const void* w, const void* a) { return legacy_dot<Q5_0W>(n, w, a); }
float q5_1_dot_avx2(int64_t n, const void* w, const void* a) { return legacy_dot<Q5_1W>(n, w, a); }
float q8_0_dot_avx2(int64_t n, const void* w, const void* a) { return legacy_dot<Q8_0W>(n, w, a); }

void q4_0_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    legacy_tile<Q4_0W>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q4_1_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    legacy_tile<Q4_1W>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_0_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    legacy_tile<Q5_0W>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_1_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    legacy_tile<Q5_1W>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q8_0_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    legacy_tile<Q8_0W>(n, w, ws, a, as, dst, ldd, nr, nc);
}

namespace {

// out += p * the row's values: per block the 32 quants widened to float 8 at a time, scaled
// by d (plus m for the types with a min), then one multiply-add.
template <typename W>
void legacy_axpy(int64_t n, float p, const void* xv, float* out) {
    const auto* x = static_cast<const typename W::Block*>(xv);
    const __m256 pv = _mm256_set1_ps(p);
    for (int64_t b = 0; b < n / kQK8_0; ++b, out += kQK8_0) {
        const __m256i q = W::quants(x[b]);  // every type's quants fit signed bytes
        const __m256 d = _mm256_set1_ps(load_f16(&x[b].d));
        const __m128i halves[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
        for (int k = 0; k < 4; ++k) {
            const __m128i eight = k % 2 == 0 ? halves[k / 2] : _mm_srli_si128(halves[k / 2], 8);
            const __m256 xq = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight));
            __m256 value;
            if constexpr (W::kMin) {
                value = _mm256_fmadd_ps(d, xq, _mm256_set1_ps(load_f16(&x[b].m)));
            } else {
                value = _mm256_mul_ps(d, xq);
            }
            _mm256_storeu_ps(out + 8 * k, _mm256_fmadd_ps(pv, value, _mm256_loadu_ps(out + 8 * k)));
        }
    }
}

}  // namespace

void q4_0_axpy_avx2(int64_t n, float p, const void* x, float* out) { legacy_axpy<Q4_0W>(n, p, x, out); }
void q4_1_axpy_avx2(int64_t n, float p, const void* x, float* out) { legacy_axpy<Q4_1W>(n, p, x, out); }
void q5_0_axpy_avx2(int64_t n, float p, const void* x, float* out) { legacy_axpy<Q5_0W>(n, p, x, out); }
void q5_1_axpy_avx2(int64_t n, float p, const void* x, float* out) { legacy_axpy<Q5_1W>(n, p, x, out); }
void q8_0_axpy_avx2(int64_t n, float p, const void* x, float* out) { legacy_axpy<Q8_0W>(n, p, x, out); }

// Q8_0 activations, byte for byte as q8_0_quantize_activation_ref (llama.cpp's x86
// activation quantizer): d = amax / 127 stored as f16 (round to even), id = 127 / amax (a
// division, not 1 / d), q = x * id rounded half to even.
void q8_0_from_float_avx2(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(dst);
    const int64_t nb = n / kQK8_0;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    for (int64_t i = 0; i < nb; ++i, x += kQK8_0) {
        const __m256 v0 = _mm256_loadu_ps(x);
        const __m256 v1 = _mm256_loadu_ps(x + 8);
        const __m256 v2 = _mm256_loadu_ps(x + 16);
        const __m256 v3 = _mm256_loadu_ps(x + 24);
        const __m256 m = _mm256_max_ps(
            _mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
            _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
        const float amax = hmax(m);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t dh = f32_to_f16_bits(amax / 127.0f);
        std::memcpy(&y[i].d, &dh, sizeof dh);
        const __m256 idv = _mm256_set1_ps(id);
        const __m256i q0 = _mm256_cvttps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, idv), kRound));
        const __m256i q1 = _mm256_cvttps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, idv), kRound));
        const __m256i q2 = _mm256_cvttps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, idv), kRound));
        const __m256i q3 = _mm256_cvttps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, idv), kRound));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), pack_i32_to_i8(q0, q1, q2, q3));
    }
}

}  // namespace llamux::cpu
