// AVX-512 (F, BW, VL, VNNI) kernels for the K-quants against Q8_K activations. Compiled only
// with the AVX-512 flags; called only after detect_isa() found them. The Q8_K activation
// quantizer stays the AVX2 one.
//
// The arithmetic is that of kernels_avx2_kquants.cpp (read its header first) on 64
// elements per zmm: a super-block is 4 quarters u of 64 consecutive elements; per quarter and
// column, vpmaddubsw forms the int16 sums of adjacent products and vpdpwssd multiplies them by
// the int16 sub-block scales and accumulates into int32 (exact), i.e. 2 instructions per 64
// elements where AVX2 needs 6 per 64.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kQuarters = kQK_K / 64;

// Word indices selecting the sub-block scales of quarter u from a vector whose words 0..15 are
// the scales: [2u x16, 2u + 1 x16] for 8 sub-blocks of 32, [4u x8, .., 4u + 3 x8] for 16 of 16.
struct ScaleIndex {
    uint16_t of32[kQuarters][32];
    uint16_t of16[kQuarters][32];
    constexpr ScaleIndex() : of32{}, of16{} {
        for (int u = 0; u < kQuarters; ++u) {
            for (int k = 0; k < 32; ++k) {
                of32[u][k] = static_cast<uint16_t>(2 * u + k / 16);
                of16[u][k] = static_cast<uint16_t>(4 * u + k / 8);
            }
        }
    }
};
constexpr ScaleIndex kScaleIndex{};

inline __m512i scales_of32(__m512i s, int u) {
    return _mm512_permutexvar_epi16(word_index(kScaleIndex.of32[u]), s);
}
inline __m512i scales_of16(__m512i s, int u) {
    return _mm512_permutexvar_epi16(word_index(kScaleIndex.of16[u]), s);
}

inline __m512i both_halves512(__m256i x) { return _mm512_broadcast_i64x4(x); }

// Per-16-bit-lane shift counts: a in the low 256 bits, b in the high 256 bits.
inline __m512i halves_counts(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<short>(a)),
                              _mm256_set1_epi16(static_cast<short>(b)), 1);
}
// Bytes where bit ja (low 256 bits) / jb (high 256 bits) of x is set.
inline __mmask64 bits_of(__m512i x, int ja, int jb) {
    const __m512i m = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << ja)),
                                         _mm256_set1_epi8(static_cast<char>(1 << jb)), 1);
    return _mm512_test_epi8_mask(x, m);
}

// Q4_K/Q5_K scales and mins (see k4_scale_min), as int16: words 0..7 of `scales`; mins16
// pairs each of the 16 bsums with the min of its sub-block.
struct K4Scales {
    __m512i scales;
    __m256i mins16;
};
inline K4Scales decode_k4_scales(const uint8_t* packed) {
    const uint32_t w0 = load_u32(packed), w1 = load_u32(packed + 4), w2 = load_u32(packed + 8);
    const uint32_t sc_lo = w0 & 0x3F3F3F3Fu;
    const uint32_t sc_hi = (w2 & 0x0F0F0F0Fu) | ((w0 >> 2) & 0x30303030u);
    const uint32_t m_lo = w1 & 0x3F3F3F3Fu;
    const uint32_t m_hi = ((w2 >> 4) & 0x0F0F0F0Fu) | ((w1 >> 2) & 0x30303030u);
    const __m128i sc = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0);
    const __m128i m = _mm_setr_epi32(static_cast<int>(m_lo), static_cast<int>(m_hi), 0, 0);
    return {_mm512_castsi128_si512(_mm_cvtepu8_epi16(sc)),
            _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m))};
}

// ---- formats: quants(u) = 64 unsigned bytes of elements 64u .. 64u + 63; scale(u) = the
// int16 multipliers of its 32 maddubs lanes. kOffset / kMin as in the AVX2 file.

struct Q4KZ {
    using Block = BlockQ4_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    using Prep = K4Scales;
    static Prep prepare(const Block& b) { return decode_k4_scales(b.scales); }
    static __m512i quants(const Block& b, const Prep&, int u) {
        const __m512i x = both_halves512(loadu256(b.qs + 32 * u));
        return _mm512_and_si512(_mm512_srlv_epi16(x, halves_counts(0, 4)), _mm512_set1_epi8(0x0F));
    }
    static __m512i scale(const Prep& p, int u) { return scales_of32(p.scales, u); }
    static __m256i mins16(const Prep& p) { return p.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

struct Q5KZ {
    using Block = BlockQ5_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    struct Prep {
        K4Scales s;
        __m512i qh;  // qh in both halves
    };
    static Prep prepare(const Block& b) {
        return {decode_k4_scales(b.scales), both_halves512(loadu256(b.qh))};
    }
    static __m512i quants(const Block& b, const Prep& p, int u) {
        const __m256i x = loadu256(b.qs + 32 * u);
        const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(x), _mm256_srli_epi16(x, 4), 1);
        const __m512i low = _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
        return _mm512_mask_add_epi8(low, bits_of(p.qh, 2 * u, 2 * u + 1), low, _mm512_set1_epi8(0x10));
    }
    static __m512i scale(const Prep& p, int u) { return scales_of32(p.s.scales, u); }
    static __m256i mins16(const Prep& p) { return p.s.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

// Q6_K: quarter u = 2h + k covers parts 2k, 2k + 1 of half h: the low (k = 0) or high (k = 1)
// nibbles of ql[64h .. 64h + 64), and bits 4k .. 4k + 3 of qh[32h .. 32h + 32) twice.
struct Q6KZ {
    using Block = BlockQ6_K;
    static constexpr bool kMin = false;
    static constexpr int kOffset = 32;
    struct Prep {
        __m512i scales;         // 16 int16 scales in words 0..15
        __m256i offset_scales;  // 32 * scale
    };
    static Prep prepare(const Block& b) {
        const __m256i s16 = _mm256_cvtepi8_epi16(loadu128(b.scales));
        return {_mm512_castsi256_si512(s16), _mm256_slli_epi16(s16, 5)};
    }
    static __m512i quants(const Block& b, const Prep&, int u) {
        const int h = u / 2, k = u % 2;
        const __m512i ql = load512(b.ql + 64 * h);
        const __m512i low = _mm512_and_si512(k == 0 ? ql : _mm512_srli_epi16(ql, 4),
                                             _mm512_set1_epi8(0x0F));
        const __m512i qh = both_halves512(loadu256(b.qh + 32 * h));
        // bits 2p, 2p + 1 (p = 2k, 2k + 1 per half) down to bits 0, 1, then up to 4, 5
        const __m512i high = _mm512_and_si512(_mm512_srlv_epi16(qh, halves_counts(4 * k, 4 * k + 2)),
                                              _mm512_set1_epi8(3));
        return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
    }
    static __m512i scale(const Prep& p, int u) { return scales_of16(p.scales, u); }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block&) { return 0.0f; }
};

// Q2_K: quarter u = 2h + k: bit pairs 2p (p = 2k, 2k + 1) of qs[32h .. 32h + 32).
struct Q2KZ {
    using Block = BlockQ2_K;
    static constexpr bool kMin = true;
    static constexpr int kOffset = 0;
    struct Prep {
        __m512i scales;
        __m256i mins16;
    };
    static Prep prepare(const Block& b) {
        const __m128i raw = loadu128(b.scales);
        const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
        return {_mm512_castsi256_si512(_mm256_cvtepu8_epi16(lo)), _mm256_cvtepu8_epi16(hi)};
    }
    static __m512i quants(const Block& b, const Prep&, int u) {
        const int h = u / 2, k = u % 2;
        const __m512i x = both_halves512(loadu256(b.qs + 32 * h));
        return _mm512_and_si512(_mm512_srlv_epi16(x, halves_counts(4 * k, 4 * k + 2)),
                                _mm512_set1_epi8(3));
    }
    static __m512i scale(const Prep& p, int u) { return scales_of16(p.scales, u); }
    static __m256i mins16(const Prep& p) { return p.mins16; }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block& b) { return load_f16(&b.dmin); }
};

// Q3_K: Q2_K's planes plus bit 2 from hmask (bit 4h + p of hmask[l]); stored as q + 4.
struct Q3KZ {
    using Block = BlockQ3_K;
    static constexpr bool kMin = false;
    static constexpr int kOffset = 4;
    struct Prep {
        __m512i scales;
        __m256i offset_scales;
        __m512i hmask;  // in both halves
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
        return {_mm512_castsi256_si512(s16), _mm256_slli_epi16(s16, 2),
                both_halves512(loadu256(b.hmask))};
    }
    static __m512i quants(const Block& b, const Prep& p, int u) {
        const int h = u / 2, k = u % 2;
        const __m512i x = both_halves512(loadu256(b.qs + 32 * h));
        const __m512i low = _mm512_and_si512(_mm512_srlv_epi16(x, halves_counts(4 * k, 4 * k + 2)),
                                             _mm512_set1_epi8(3));
        const int j = 4 * h + 2 * k;
        return _mm512_mask_add_epi8(low, bits_of(p.hmask, j, j + 1), low, _mm512_set1_epi8(4));
    }
    static __m512i scale(const Prep& p, int u) { return scales_of16(p.scales, u); }
    static float d(const Block& b) { return load_f16(&b.d); }
    static float dmin(const Block&) { return 0.0f; }
};

// 16 int32 lanes -> 8 (the sum of the two halves), for pack_columns.
inline __m256i fold(__m512i x) {
    return _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
}

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
                    __m512i isum[NC];
                    for (int c = 0; c < NC; ++c) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 4
                    for (int u = 0; u < kQuarters; ++u) {
                        const __m512i q = W::quants(b, p, u);
                        const __m512i sc = W::scale(p, u);
                        for (int c = 0; c < NC; ++c) {
                            const __m512i prod = _mm512_maddubs_epi16(q, load512(ac[c][i].qs + 64 * u));
                            isum[c] = _mm512_dpwssd_epi32(isum[c], prod, sc);
                        }
                    }
                    __m256i folded[NC];
                    for (int c = 0; c < NC; ++c) folded[c] = fold(isum[c]);
                    if constexpr (W::kOffset != 0) {
                        for (int c = 0; c < NC; ++c) {
                            const __m256i bs = loadu256(ac[c][i].bsums);
                            folded[c] = _mm256_sub_epi32(folded[c], _mm256_madd_epi16(bs, p.offset_scales));
                        }
                    }
                    const __m256 dv = _mm256_mul_ps(_mm256_set1_ps(W::d(b)), dav);
                    acc[r] = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(pack_columns<NC>(folded)), acc[r]);
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

float q2_k_dot_avx512(int64_t n, const void* w, const void* a) { return kquant_dot<Q2KZ>(n, w, a); }
float q3_k_dot_avx512(int64_t n, const void* w, const void* a) { return kquant_dot<Q3KZ>(n, w, a); }
float q4_k_dot_avx512(int64_t n, const void* w, const void* a) { return kquant_dot<Q4KZ>(n, w, a); }
float q5_k_dot_avx512(int64_t n, const void* w, const void* a) { return kquant_dot<Q5KZ>(n, w, a); }
float q6_k_dot_avx512(int64_t n, const void* w, const void* a) { return kquant_dot<Q6KZ>(n, w, a); }

void q2_k_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    kquant_tile<Q2KZ>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q3_k_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    kquant_tile<Q3KZ>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q4_k_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    kquant_tile<Q4KZ>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_k_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    kquant_tile<Q5KZ>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q6_k_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    kquant_tile<Q6KZ>(n, w, ws, a, as, dst, ldd, nr, nc);
}

}  // namespace llamux::cpu
