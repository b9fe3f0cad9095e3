// AVX2 + FMA + F16C kernels for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against Q8_K
// activations, and the Q8_K activation quantizer. Compiled only with -mavx2 -mfma -mf16c;
// called only after detect_isa() found AVX2.
//
// One generic kernel does every format: a super-block of 256 elements is 8 parts of 32
// consecutive elements; each format says how to unpack part t into 32 unsigned bytes and
// which integer scale multiplies each 16-element half of it. Per super-block and column:
//   isum = sum_t sum_pairs maddubs(q_t, a_t) * scale_t         (exact int32)
//        - offset * sum_sub scale_sub * bsums_sub               (Q3_K: offset 4, Q6_K: 32)
//   msum = sum_sub min_sub * bsums_sub                          (Q2_K, Q4_K, Q5_K)
//   dot += d_w d_a isum - dmin_w d_a msum
// which is the scalar twins' arithmetic (graph/src/quant_kquants_dot.cpp) with the signed
// quants written as unsigned minus an offset. vec_dot is the 1 x 1 tile.
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kParts = kQK_K / 32;

// Shuffle controls on a vector whose two 128-bit halves both hold 8 int16 scales:
// every int16 lane = scale t (one scale for all 32 elements) ...
inline __m256i broadcast_scale(__m256i s, int t) {
    return _mm256_shuffle_epi8(s, _mm256_set1_epi16(static_cast<short>(((2 * t + 1) << 8) | (2 * t))));
}
// ... or lanes 0..7 = scale 2p, lanes 8..15 = scale 2p + 1 (two 16-element sub-blocks).
inline __m256i pair_scales(__m256i s, int p) {
    const int lo = 4 * p;
    const int hi = 4 * p + 2;
    return _mm256_shuffle_epi8(
        s, _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(((hi + 1) << 8) | hi)),
                            _mm_set1_epi16(static_cast<short>(((lo + 1) << 8) | lo))));
}
inline __m256i both_halves(__m128i x) { return _mm256_broadcastsi128_si256(x); }

inline __m128i load64(const void* p) {
    long long v = 0;
    std::memcpy(&v, p, sizeof v);
    return _mm_cvtsi64_si128(v);
}

// Bytes of `bits` where bit j is set -> `value`, else 0.
inline __m256i select_bit(__m256i bits, int j, int value) {
    const __m256i m = _mm256_set1_epi8(static_cast<char>(1 << j));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bits, m), m),
                            _mm256_set1_epi8(static_cast<char>(value)));
}

// ---- formats ---------------------------------------------------------------------------
// Prep: what is decoded once per super-block. quants(t): 32 unsigned bytes of part t.
// scale(t): int16 multipliers of the 16 maddubs lanes of part t. kOffset: the bias the
// unsigned quants carry (isum loses offset * sum scale * bsums). kMin: mins16 pairs with the
// activation's 16 bsums.

// Q4_K/Q5_K scales and mins: 8 x 6 bits each in 12 bytes (see k4_scale_min).
struct K4Scales {
    __m256i scales;  // 8 int16 scales, in both halves
    __m256i mins16;  // min of sub-block s / 2 for each of the 16 bsums
};
inline K4Scales decode_k4_scales(const uint8_t* packed) {
    const uint32_t w0 = load_u32(packed), w1 = load_u32(packed + 4), w2 = load_u32(packed + 8);
    const uint32_t sc_lo = w0 & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (w2 & 0x0F0F0F0Fu) | ((w0 >> 2) & 0x30303030u);
    const uint32_t m_lo = w1 & 0x3F3F3F3Fu;
    const uint32_t m_hi = ((w2 >> 4) & 0x0F0F0F0Fu) | ((w1 >> 2) & 0x30303030u);
    const __m128i sc = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0);
    const __m128i m = _mm_setr_epi32(static_cast<int>(m_lo), static_cast<int>(m_hi), 0, 0);
    return {both_halves(_mm_cvtepu8_epi16(sc)), _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m))};
}

struct Q4KW {
    using Block = BlockQ4_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    struct Prep {
        K4Scales s;
    };
    static Prep prepare(const Block& b) { return {decode_k4_scales(b.scales)}; }
    static __m256i quants(const Block& b, const Prep&, int t) {
        const __m256i x = loadu256(b.qs + 32 * (t / 2));
        const __m256i nib = (t % 2 == 0) ? x : _mm256_srli_epi16(x, 4);
        return _mm256_and_si256(nib, _mm256_set1_epi8(0x0F));
    }
    static __m256i scale(const Prep& p, int t) { return broadcast_scale(p.s.scales, t); }
    static __m256i mins16(const Prep& p) { return p.s.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

struct Q5KW {
    using Block = BlockQ5_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    struct Prep {
        K4Scales s;
        __m256i qh;
    };
    static Prep prepare(const Block& b) { return {decode_k4_scales(b.scales), loadu256(b.qh)}; }
    static __m256i quants(const Block& b, const Prep& p, int t) {
        const __m256i x = loadu256(b.qs + 32 * (t / 2));
        const __m256i nib = (t % 2 == 0) ? x : _mm256_srli_epi16(x, 4);
        return _mm256_or_si256(_mm256_and_si256(nib, _mm256_set1_epi8(0x0F)),
                               select_bit(p.qh, t, 0x10));
    }
    static __m256i scale(const Prep& p, int t) { return broadcast_scale(p.s.scales, t); }
    static __m256i mins16(const Prep& p) { return p.s.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

// Q6_K: part t = 4h + p holds elements 128h + 32p + l: low nibbles from ql[64h + 32(p & 1)]
// (high nibbles for p >= 2), 2 high bits from qh[32h] at bits 2p; stored as q + 32.
struct Q6KW {
    using Block = BlockQ6_K;
    static constexpr bool kMin = false;
    static constexpr int kOffset = 32;
    struct Prep {
        __m256i half_scales[2];  // int16 scales 8h .. 8h + 7 in both halves
        __m256i offset_scales;   // 32 * scale of each of the 16 sub-blocks
    };
    static Prep prepare(const Block& b) {
        const __m128i s8 = loadu128(b.scales);
        const __m256i s16 = _mm256_cvtepi8_epi16(s8);
        return {{both_halves(_mm256_castsi256_si128(s16)), both_halves(_mm256_extracti128_si256(s16, 1))},
                _mm256_slli_epi16(s16, 5)};
    }
    static __m256i quants(const Block& b, const Prep&, int t) {
        const int h = t / 4, p = t % 4;
        const __m256i ql = loadu256(b.ql + 64 * h + 32 * (p & 1));
        const __m256i low = _mm256_and_si256(p < 2 ? ql : _mm256_srli_epi16(ql, 4),
                                             _mm256_set1_epi8(0x0F));
        const __m256i qh = loadu256(b.qh + 32 * h);
        __m256i high;  // bits 2p, 2p + 1 of each qh byte moved to bits 4, 5
        switch (p) {
            case 0: high = _mm256_slli_epi16(qh, 4); break;
            case 1: high = _mm256_slli_epi16(qh, 2); break;
            case 2: high = qh; break;
            default: high = _mm256_srli_epi16(qh, 2); break;
        }
        return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(0x30)));
    }
    static __m256i scale(const Prep& p, int t) { return pair_scales(p.half_scales[t / 4], t % 4); }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block&) { return 0.0f; }
};

// Q2_K: 2-bit quants, element 128h + 32p + l at bits 2p of qs[32h + l]; scales & 0xF,
// mins >> 4, one pair per 16-element sub-block.
struct Q2KW {
    using Block = BlockQ2_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    struct Prep {
        __m256i half_scales[2];
        __m256i mins16;
    };
    static Prep prepare(const Block& b) {
        const __m128i raw = loadu128(b.scales);
        const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
        return {{both_halves(_mm_cvtepu8_epi16(lo)),
                 both_halves(_mm_cvtepu8_epi16(_mm_srli_si128(lo, 8)))},
                _mm256_cvtepu8_epi16(hi)};
    }
    static __m256i quants(const Block& b, const Prep&, int t) {
        const __m256i x = loadu256(b.qs + 32 * (t / 4));
        const __m256i shifted = _mm256_srl_epi16(x, _mm_cvtsi32_si128(2 * (t % 4)));
        return _mm256_and_si256(shifted, _mm256_set1_epi8(3));
    }
    static __m256i scale(const Prep& p, int t) { return pair_scales(p.half_scales[t / 4], t % 4); }
    static __m256i mins16(const Prep& p) { return p.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

// Q3_K: Q2_K's 2-bit planes plus bit 2 from hmask (bit 4h + p of hmask[l]); stored as
// q + 4. 16 signed 6-bit scales (see q3_k_scale).
struct Q3KW {
    using Block = BlockQ3_K;
    static constexpr bool kMin = false;
    static constexpr int kOffset = 4;
    struct Prep {
        __m256i half_scales[2];
        __m256i offset_scales;  // 4 * scale
        __m256i hmask;
    };
    static Prep prepare(const Block& b) {
        const uint32_t w0 = load_u32(b.scales), w1 = load_u32(b.scales + 4);
        const uint32_t w2 = load_u32(b.scales + 8);
        const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
        const uint32_t g0 = (w0 & m4) | ((w2 & m2) << 4);
        const uint32_t g1 = (w1 & m4) | (((w2 >> 2) & m2) << 4);
        const uint32_t g2 = ((w0 >> 4) & m4) | (((w2 >> 4) & m2) << 4);
        const uint32_t g3 = ((w1 >> 4) & m4) | (((w2 >> 6) & m2) << 4);
        const __m128i s8 = _mm_sub_epi8(
            _mm_setr_epi32(static_cast<int>(g0), static_cast<int>(g1), static_cast<int>(g2),
                           static_cast<int>(g3)),
            _mm_set1_epi8(32));
        const __m256i s16 = _mm256_cvtepi8_epi16(s8);
        return {{both_halves(_mm256_castsi256_si128(s16)), both_halves(_mm256_extracti128_si256(s16, 1))},
                _mm256_slli_epi16(s16, 2),
                loadu256(b.hmask)};
    }
    static __m256i quants(const Block& b, const Prep& p, int t) {
        const __m256i x = loadu256(b.qs + 32 * (t / 4));
        const __m256i low = _mm256_and_si256(_mm256_srl_epi16(x, _mm_cvtsi32_si128(2 * (t % 4))),
                                             _mm256_set1_epi8(3));
        return _mm256_or_si256(low, select_bit(p.hmask, t, 4));
    }
    static __m256i scale(const Prep& p, int t) { return pair_scales(p.half_scales[t / 4], t % 4); }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block&) { return 0.0f; }
};

// ---- the kernel: NR weight rows x NC activation columns --------------------------------
// Each weight super-block is unpacked once per row and multiplied with all NC columns; the
// NC int32 sums of a row are packed into one vector (pack_columns) once per super-block.
template <typename W>
struct KTile {
    template <int NR, int NC>
    struct Kernel {
        static void run(int64_t n, const void* w, size_t w_stride, const void* a,
                        size_t a_stride, float* dst, size_t ldd) {
            using Block = typename W::Block;
            const int64_t nb = n / kQK_K;
            const Block* wr[NR];
            const BlockQ8_K* ac[NC];
            for (int r = 0; r < NR; ++r) wr[r] = row_at<Block>(w, w_stride, r);
            for (int c = 0; c < NC; ++c) ac[c] = row_at<BlockQ8_K>(a, a_stride, c);
            __m256 acc[NR];
            for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
            for (int64_t i = 0; i < nb; ++i) {
                float da[4];
                for (int c = 0; c < NC; ++c) da[c] = load_f32(&ac[c][i].d);
                const __m256 dav = column_vector<NC>(da);
                for (int r = 0; r < NR; ++r) {
                    const Block& b = wr[r][i];
                    prefetch_block_ahead(&b, sizeof(Block));
                    const typename W::Prep p = W::prepare(b);
                    __m256i isum[NC];
                    for (int c = 0; c < NC; ++c) isum[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
                    for (int t = 0; t < kParts; ++t) {
                        const __m256i q = W::quants(b, p, t);
                        const __m256i sc = W::scale(p, t);
                        for (int c = 0; c < NC; ++c) {
                            const __m256i prod = _mm256_maddubs_epi16(q, loadu256(ac[c][i].qs + 32 * t));
                            isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(prod, sc));
                        }
                    }
                    if constexpr (W::kOffset != 0) {
                        for (int c = 0; c < NC; ++c) {
                            const __m256i bs = loadu256(ac[c][i].bsums);
                            isum[c] = _mm256_sub_epi32(isum[c], _mm256_madd_epi16(bs, p.offset_scales));
                        }
                    }
                    const __m256 dv = _mm256_mul_ps(_mm256_set1_ps(W::d(b)), dav);
                    acc[r] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(pack_columns<NC>(isum)), acc[r]);
                    if constexpr (W::kMin) {
                        __m256i msum[NC];
                        for (int c = 0; c < NC; ++c) {
                            msum[c] = _mm256_madd_epi16(loadu256(ac[c][i].bsums), W::mins16(p));
                        }
                        const __m256 mv = _mm256_mul_ps(_mm256_set1_ps(W::dmin(b)), dav);
                        acc[r] = _mm256_fnmadd_ps(mv, _mm256_cvtepi32_ps(pack_columns<NC>(msum)), acc[r]);
                    }
                }
            }
            store_tile<NR, NC>(acc, dst, ldd);
        }
    };
};

template <typename W>
float kquant_dot(int64_t n, const void* w, const void* a) {
    float out = 0.0f;
    KTile<W>::template Kernel<1, 1>::run(n, w, 0, a, 0, &out, 1);
    return out;
}

template <typename W>
void kquant_tile(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride,
                 float* dst, size_t ldd, int nr, int nc) {
    dispatch_tile<KTile<W>::template Kernel>(nr, nc, n, w, w_stride, a, a_stride, dst, ldd);
}

}  // namespace

float q2_k_dot_avx2(int64_t n, const void* w, const void* a) { return kquant_dot<Q2KW>(n, w, a); }
float q3_k_dot_avx2(int64_t n, const void* w, const void* a) { return kquant_dot<Q3KW>(n, w, a); }
float q4_k_dot_avx2(int64_t n, const void* w, const void* a) { return kquant_dot<Q4KW>(n, w, a); }
float q5_k_dot_avx2(int64_t n, const void* w, const void* a) { return kquant_dot<Q5KW>(n, w, a); }
float q6_k_dot_avx2(int64_t n, const void* w, const void* a) { return kquant_dot<Q6KW>(n, w, a); }

void q2_k_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    kquant_tile<Q2KW>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q3_k_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    kquant_tile<Q3KW>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q4_k_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    kquant_tile<Q4KW>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_k_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    kquant_tile<Q5KW>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q6_k_tile_avx2(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                    size_t ldd, int nr, int nc) {
    kquant_tile<Q6KW>(n, w, ws, a, as, dst, ldd, nr, nc);
}

// Q8_K activations, byte for byte as q8_k_quantize_ref: the signed value of largest
// magnitude (the first on ties) gives iscale = -127 / max; q = min(127, round-half-even(
// iscale * x)); bsums are sums of 16; d = 1 / iscale. An all-zero block is all zero bytes.
void q8_k_from_float_avx2(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(dst);
    const int64_t nb = n / kQK_K;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < kQK_K; k += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask));
        const float amax = hmax(m);
        if (amax == 0.0f) {
            std::memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.0f;  // the first element with |x| == amax
        const __m256 target = _mm256_set1_ps(amax);
        for (int k = 0; k < kQK_K; k += 8) {
            const __m256 eq = _mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask), target, _CMP_EQ_OQ);
            const int bits = _mm256_movemask_ps(eq);
            if (bits != 0) {
                max = x[k + __builtin_ctz(static_cast<unsigned>(bits))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        int8_t* qs = y[i].qs;
        for (int k = 0; k < kQK_K; k += 32) {
            __m256i q[4];
            for (int j = 0; j < 4; ++j) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), is);
                q[j] = _mm256_min_epi32(
                    _mm256_cvttps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), top);
            }
            // bsums of the two 16-element groups: q0 + q1 and q2 + q3, each summed across lanes.
            const __m256i s01 = _mm256_add_epi32(q[0], q[1]);
            const __m256i s23 = _mm256_add_epi32(q[2], q[3]);
            const int b0 = hsum_i32(s01), b1 = hsum_i32(s23);
            y[i].bsums[k / 16] = static_cast<int16_t>(b0);
            y[i].bsums[k / 16 + 1] = static_cast<int16_t>(b1);
            const __m256i ab = _mm256_packs_epi32(q[0], q[1]);
            const __m256i cd = _mm256_packs_epi32(q[2], q[3]);
            const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                                              _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + k), bytes);
        }
        const float d = 1.0f / iscale;
        std::memcpy(&y[i].d, &d, sizeof d);
    }
}

}  // namespace llamux::cpu
