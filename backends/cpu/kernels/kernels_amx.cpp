// AMX (Advanced Matrix Extensions) products for prompt processing. Compiled with the AVX-512
// flags plus -mamx-tile -mamx-int8; called only after detect_isa() found AMX and the OS
// granted this process the tile state (kernels_dispatch.cpp).
//
// One tile product multiplies 16 weight rows by 16 activation columns over one sub-block of
// the weight type (32 elements; 16 for Q6_K), int8 x int8 -> int32, exactly as the AVX
// kernels do per sub-block. Each int32 result is then scaled into float accumulators on
// AVX-512:
//  - Q8_0 activations: acc[r][c] += C[r][c] * (d_w[r][s] * d_a[c][s]), plus
//    m_w[r][s] * d_a[c][s] * sum(a[c] over s) for Q4_1 and Q5_1 (their min);
//  - Q8_K activations (d_a per super-block): part[r][c] += C[r][c] * d_w[r][s], minus
//    m_w[r][s] * sum(a[c] over s) for the types with mins, and acc += part * d_a[c] once per
//    super-block (one multiply fewer per sub-block).
// So the results equal the vec_dot kernels' up to float summation order. The scaling, not
// the tile unit, bounds the speed; the loop overlaps one with the other (panel_times_group).
//
// Layouts:
//  - Activation group (pack), 16 converted columns: for every sub-block s the B tile
//    (sub / 4 rows of 16 x 4 bytes: column c's elements 4k..4k+3 in row k, dword c); then
//    for every s the 16 column scales d_a (of the block holding s); then (types with mins)
//    for every s the 16 column sums of the activations over s.
//  - Weight panel (unpacked per 16 rows into per-thread scratch): for every s the A tile
//    (16 rows x sub int8 values); then for every s the 16 row scales d_w; then (with mins)
//    for every s the 16 row mins m_w.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include "amx_tiles.hpp"
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "packed_rows_avx512.hpp"

#if !defined(__AMX_TILE__) || !defined(__AMX_INT8__)
#error "kernels_amx.cpp: compile with -mamx-tile -mamx-int8"
#endif

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kRows = 16;  // weight rows and activation columns of one tile product

// Tiles 0/3: weights (16 rows x sub bytes); 1/4: activations (sub / 4 rows x 64 bytes);
// 2/5: int32 results (16 x 16). Two sets, so one product runs while the other is scaled.
void configure_tiles(int sub) {
    amx::TileConfig cfg;
    for (const int t : {0, 3}) {
        cfg.rows[t] = kRows;
        cfg.colsb[t] = static_cast<uint16_t>(sub);
    }
    for (const int t : {1, 4}) {
        cfg.rows[t] = static_cast<uint8_t>(sub / 4);
        cfg.colsb[t] = 64;
    }
    for (const int t : {2, 5}) {
        cfg.rows[t] = kRows;
        cfg.colsb[t] = 64;
    }
    amx::load_config(cfg);
}

// ---- how each weight type looks to the tile products ----------------------------------

enum class Act { Q8_0, Q8_K };

struct Format {
    int sub;         // elements per sub-block (one tile product)
    Act act;         // activation type
    bool mins;       // weights carry a min per sub-block (needs activation sums)
    bool unsigned_w; // weight values 0..15 / 0..31 (tdpbusd) rather than signed (tdpbssd)
};

constexpr Format kQ8_0Format{32, Act::Q8_0, false, false};
constexpr Format kQ4_1Format{32, Act::Q8_0, true, true};  // Q4_1, Q5_1: values and a min
constexpr Format kQ4_KFormat{32, Act::Q8_K, true, true};
constexpr Format kQ6_KFormat{16, Act::Q8_K, false, false};

// Bytes of one packed activation group, and where its parts start.
struct GroupLayout {
    int64_t n_sub;
    size_t tiles, scales, sums, bytes;
    GroupLayout(const Format& f, int64_t n) : n_sub(n / f.sub) {
        tiles = 0;
        scales = static_cast<size_t>(n_sub) * static_cast<size_t>(f.sub) * kRows;
        sums = scales + static_cast<size_t>(n_sub) * kRows * sizeof(float);
        bytes = sums + (f.mins ? static_cast<size_t>(n_sub) * kRows * sizeof(float) : 0);
    }
};

// The same for the weight panel of 16 rows.
struct PanelLayout {
    int64_t n_sub;
    size_t scales, mins, bytes;
    PanelLayout(const Format& f, int64_t n) : n_sub(n / f.sub) {
        scales = static_cast<size_t>(n_sub) * static_cast<size_t>(f.sub) * kRows;
        mins = scales + static_cast<size_t>(n_sub) * kRows * sizeof(float);
        bytes = mins + (f.mins ? static_cast<size_t>(n_sub) * kRows * sizeof(float) : 0);
    }
};

// ---- packing activation columns -------------------------------------------------------

// Activation sub-block s of a converted column: its int8 values, its scale, its sum.
struct ActSub {
    const int8_t* q;
    float d;
    int sum;  // only for Q8_K with sub == 32
};

// Sum of a Q8_0 block's 32 quants.
inline int q8_0_sum(const int8_t* q) {
    return hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), loadu256(q)),
                                      _mm256_set1_epi16(1)));
}

template <Act A, int Sub>
inline ActSub act_sub(const unsigned char* column, int64_t s) {
    if constexpr (A == Act::Q8_0) {
        const auto* b = reinterpret_cast<const BlockQ8_0*>(column) + s;
        return {b->qs, load_f16(&b->d), 0};
    } else {
        const int64_t first = s * Sub;
        const auto* b = reinterpret_cast<const BlockQ8_K*>(column) + first / kQK_K;
        const int64_t off = first % kQK_K;
        int sum = 0;
        if constexpr (Sub == 32) sum = b->bsums[off / 16] + b->bsums[off / 16 + 1];
        return {b->qs + off, load_f32(&b->d), sum};
    }
}

template <const Format& F, Act A = F.act>
void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    const GroupLayout g(F, n);
    auto* out = static_cast<unsigned char*>(group);
    const auto* base = static_cast<const unsigned char*>(a);
    // Dword c of a B-tile row is 4 bytes of column c: a gather with the column stride.
    const __m512i columns = simd::lane_offsets(a_stride);
    for (int64_t s = 0; s < g.n_sub; ++s) {
        float* scales = reinterpret_cast<float*>(out + g.scales) + s * kRows;
        float* sums = reinterpret_cast<float*>(out + g.sums) + s * kRows;
        for (int c = 0; c < kRows; ++c) {
            const ActSub as = act_sub<A, F.sub>(base + static_cast<size_t>(c) * a_stride, s);
            scales[c] = as.d;
            // Q8_0 (one scale per block): d_a * sum(a), what the weights' min multiplies.
            if constexpr (F.mins && A == Act::Q8_0) {
                sums[c] = as.d * static_cast<float>(q8_0_sum(as.q));
            } else if constexpr (F.mins) {
                sums[c] = static_cast<float>(as.sum);
            }
        }
        const ActSub first = act_sub<A, F.sub>(base, s);
        unsigned char* tile = out + g.tiles + static_cast<size_t>(s) * F.sub * kRows;
        for (int k = 0; k < F.sub / 4; ++k) {
            const __m512i v = _mm512_i32gather_epi32(columns, first.q + 4 * k, 1);
            _mm512_storeu_si512(tile + 64 * k, v);
        }
    }
}

// ---- unpacking 16 weight rows ---------------------------------------------------------

// Q4_0 / Q8_0: one block per sub-block of 32.
void unpack_q4_0(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ8_0Format, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    const __m256i eight = _mm256_set1_epi8(8);
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ4_0*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t s = 0; s < p.n_sub; ++s) {
            const __m256i q = _mm256_sub_epi8(nibbles_lo_hi(row[s].qs), eight);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (s * kRows + r) * 32), q);
            scales[s * kRows + r] = load_f16(&row[s].d);
        }
    }
}

void unpack_q8_0(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ8_0Format, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ8_0*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t s = 0; s < p.n_sub; ++s) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (s * kRows + r) * 32),
                                loadu256(row[s].qs));
            scales[s * kRows + r] = load_f16(&row[s].d);
        }
    }
}

// Q5_0: one block per sub-block, values q - 16 (the fifth bit of element j: bit j of qh).
void unpack_q5_0(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ8_0Format, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ5_0*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t s = 0; s < p.n_sub; ++s) {
            const __m256i high = _mm256_and_si256(bits_to_bytes(load_u32(row[s].qh)), sixteen);
            const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles_lo_hi(row[s].qs), high), sixteen);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (s * kRows + r) * 32), q);
            scales[s * kRows + r] = load_f16(&row[s].d);
        }
    }
}

// Q4_1 and Q5_1 (kFive): values 0..15 / 0..31 as unsigned bytes, the scale d and the min m.
template <typename Block, bool kFive>
void unpack_min_block(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ4_1Format, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    auto* mins = reinterpret_cast<float*>(panel + p.mins);
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const Block*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t s = 0; s < p.n_sub; ++s) {
            __m256i q = nibbles_lo_hi(row[s].qs);
            if constexpr (kFive) {
                q = _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(load_u32(row[s].qh)), _mm256_set1_epi8(16)));
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (s * kRows + r) * 32), q);
            scales[s * kRows + r] = load_f16(&row[s].d);
            mins[s * kRows + r] = load_f16(&row[s].m);
        }
    }
}

// The 6-bit scale and min of sub-block j of a Q4_K super-block.
inline void k4_scale_min(const uint8_t* q, int j, int* sc, int* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Q4_K, and Q5_K (kFive: the fifth bit of element l of sub-block s is bit s of qh[l]); the
// values 0..15 or 0..31 go in as unsigned bytes either way.
template <typename Block, bool kFive>
void unpack_k4(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ4_KFormat, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    auto* mins = reinterpret_cast<float*>(panel + p.mins);
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const Block*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const Block& b = row[i];
            const float d = load_f16(&b.d), dmin = load_f16(&b.dmin);
            for (int j = 0; j < 8; ++j) {
                int sc = 0, m = 0;
                k4_scale_min(b.scales, j, &sc, &m);
                const int64_t s = i * 8 + j;
                scales[s * kRows + r] = d * static_cast<float>(sc);
                mins[s * kRows + r] = dmin * static_cast<float>(m);
            }
            for (int pair = 0; pair < 4; ++pair) {
                const __m256i q = loadu256(b.qs + 32 * pair);
                __m256i lo = _mm256_and_si256(q, low), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
                if constexpr (kFive) {
                    const __m256i qh = loadu256(b.qh);
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * pair), one), 4));
                    hi = _mm256_or_si256(hi,
                                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * pair + 1), one), 4));
                }
                const int64_t s = i * 8 + 2 * pair;
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (s * kRows + r) * 32), lo);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + ((s + 1) * kRows + r) * 32), hi);
            }
        }
    }
}

void unpack_q6_k(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    const PanelLayout p(kQ6_KFormat, n);
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i low2 = _mm256_set1_epi8(0x03);
    const __m256i bias = _mm256_set1_epi8(32);
    // Stores 32 values (sub-blocks s and s + 1) of row r.
    auto store2 = [&](int64_t s, int r, __m256i v) {
        v = _mm256_sub_epi8(v, bias);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + (s * kRows + r) * 16),
                         _mm256_castsi256_si128(v));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(panel + ((s + 1) * kRows + r) * 16),
                         _mm256_extracti128_si256(v, 1));
    };
    for (int r = 0; r < kRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ6_K*>(
            static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride);
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const BlockQ6_K& b = row[i];
            const float d = load_f16(&b.d);
            for (int j = 0; j < 16; ++j) {
                scales[(i * 16 + j) * kRows + r] = d * static_cast<float>(b.scales[j]);
            }
            for (int half = 0; half < 2; ++half) {
                const __m256i ql0 = loadu256(b.ql + 64 * half);
                const __m256i ql1 = loadu256(b.ql + 64 * half + 32);
                const __m256i qh = loadu256(b.qh + 32 * half);
                auto high = [&](int shift) {
                    return _mm256_slli_epi16(
                        _mm256_and_si256(_mm256_srli_epi16(qh, shift), low2), 4);
                };
                const int64_t s = i * 16 + half * 8;  // first sub-block of this half
                store2(s + 0, r, _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0)));
                store2(s + 2, r, _mm256_or_si256(_mm256_and_si256(ql1, low4), high(2)));
                store2(s + 4, r,
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                                       high(4)));
                store2(s + 6, r,
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                       high(6)));
            }
        }
    }
}

// ---- the product of one unpacked panel with packed groups ------------------------------

// GCC's tile intrinsics paste the tile number into the instruction text: it must be a
// literal, hence one function per tile set.
#define LLAMUX_TILE_PRODUCT(name, ta, tb, tc)                                            \
    template <bool UnsignedW>                                                            \
    inline void name(const unsigned char* a, size_t a_stride, const unsigned char* b) {  \
        _tile_zero(tc);                                                                  \
        _tile_loadd(ta, a, a_stride);                                                    \
        _tile_loadd(tb, b, 64);                                                          \
        if constexpr (UnsignedW) {                                                       \
            _tile_dpbusd(tc, ta, tb);                                                    \
        } else {                                                                         \
            _tile_dpbssd(tc, ta, tb);                                                    \
        }                                                                                \
    }
LLAMUX_TILE_PRODUCT(tile_product0, 0, 1, 2)
LLAMUX_TILE_PRODUCT(tile_product1, 3, 4, 5)
#undef LLAMUX_TILE_PRODUCT

// Q8_0 activations (a scale per sub-block): acc[r] += C[r] * (d_a * d_w[r]).
inline void scale_into(__m512 (&acc)[kRows], const int32_t (&c)[kRows][kRows],
                       const float* da, const float* dw) {
    const __m512 dav = _mm512_loadu_ps(da);
    for (int r = 0; r < kRows; ++r) {
        const __m512 prod = _mm512_cvtepi32_ps(_mm512_load_si512(c[r]));
        acc[r] = _mm512_fmadd_ps(prod, _mm512_mul_ps(dav, _mm512_set1_ps(dw[r])), acc[r]);
    }
}

// Weights with a min against Q8_0 activations: the term m_w * d_a * sum(a), added as
// acc[i] += v * e[i] with v a vector over acc's lanes and e one value per accumulator: for
// C as rows by columns, v = the columns' d_a sum(a) and e = the rows' m_w; for C as columns
// by rows (repacked weights), the other way round.
inline void add_mins(__m512 (&acc)[kRows], const float* v, const float* e) {
    const __m512 sv = _mm512_loadu_ps(v);
    for (int i = 0; i < kRows; ++i) acc[i] = _mm512_fmadd_ps(sv, _mm512_set1_ps(e[i]), acc[i]);
}

// Q8_K activations (one scale per super-block): the super-block's sum without d_a,
// part[r] += C[r] * d_w[r] (- sum(a) * m_w[r]), is scaled by d_a once, at its end.
template <bool Mins>
inline void scale_into_part(__m512 (&part)[kRows], const int32_t (&c)[kRows][kRows],
                            const float* dw, const float* sums, const float* mw) {
    for (int r = 0; r < kRows; ++r) {
        const __m512 prod = _mm512_cvtepi32_ps(_mm512_load_si512(c[r]));
        part[r] = _mm512_fmadd_ps(prod, _mm512_set1_ps(dw[r]), part[r]);
    }
    if constexpr (Mins) {
        const __m512 sv = _mm512_loadu_ps(sums);
        for (int r = 0; r < kRows; ++r) {
            part[r] = _mm512_fnmadd_ps(sv, _mm512_set1_ps(mw[r]), part[r]);
        }
    }
}
inline void flush_part(__m512 (&acc)[kRows], __m512 (&part)[kRows], const float* da) {
    const __m512 dav = _mm512_loadu_ps(da);
    for (int r = 0; r < kRows; ++r) {
        acc[r] = _mm512_fmadd_ps(part[r], dav, acc[r]);
        part[r] = _mm512_setzero_ps();
    }
}

template <const Format& F>
void panel_times_group(const unsigned char* panel, const PanelLayout& p,
                       const unsigned char* group, const GroupLayout& g, float* dst,
                       size_t ldd) {
    constexpr int kTileBytes = F.sub * kRows;
    const auto* wscale = reinterpret_cast<const float*>(panel + p.scales);
    const auto* wmin = reinterpret_cast<const float*>(panel + p.mins);
    const auto* ascale = reinterpret_cast<const float*>(group + g.scales);
    const auto* asum = reinterpret_cast<const float*>(group + g.sums);
    alignas(64) int32_t c0[kRows][kRows];
    alignas(64) int32_t c1[kRows][kRows];
    __m512 acc[kRows], part[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = part[r] = _mm512_setzero_ps();
    constexpr int64_t kSubsPerSuper = kQK_K / F.sub;
    auto w_tile = [&](int64_t s) { return panel + s * kTileBytes; };
    auto a_tile = [&](int64_t s) { return group + g.tiles + s * kTileBytes; };
    auto scale = [&](const int32_t(&c)[kRows][kRows], int64_t s) {
        if constexpr (F.act == Act::Q8_0) {
            scale_into(acc, c, ascale + s * kRows, wscale + s * kRows);
            if constexpr (F.mins) add_mins(acc, asum + s * kRows, wmin + s * kRows);
        } else {
            scale_into_part<F.mins>(part, c, wscale + s * kRows, asum + s * kRows,
                                    wmin + s * kRows);
            if (s % kSubsPerSuper == kSubsPerSuper - 1) flush_part(acc, part, ascale + s * kRows);
        }
    };

    // Two tile sets in turn. Step s issues product s + 1, scales product s - 1 (stored a
    // step earlier, so its loads do not wait for the tile store) and stores product s.
    const int64_t n_sub = p.n_sub;
    tile_product0<F.unsigned_w>(w_tile(0), static_cast<size_t>(F.sub), a_tile(0));
    for (int64_t s = 0;; s += 2) {
        if (s + 1 < n_sub) tile_product1<F.unsigned_w>(w_tile(s + 1), static_cast<size_t>(F.sub), a_tile(s + 1));
        if (s > 0) scale(c1, s - 1);
        _tile_stored(2, c0, 64);
        if (s + 1 >= n_sub) {
            scale(c0, s);
            break;
        }
        if (s + 2 < n_sub) tile_product0<F.unsigned_w>(w_tile(s + 2), static_cast<size_t>(F.sub), a_tile(s + 2));
        scale(c0, s);
        _tile_stored(5, c1, 64);
        if (s + 2 >= n_sub) {
            scale(c1, s + 1);
            break;
        }
    }

    // acc[r] holds columns 0..15 of row r; dst is column-major in that sense.
    const __m512i columns = simd::lane_offsets(ldd);
    for (int r = 0; r < kRows; ++r) _mm512_i32scatter_ps(dst + r, columns, acc[r], 4);
}

using UnpackFn = void (*)(int64_t n, const void* w, size_t w_stride, unsigned char* panel);

template <const Format& F, UnpackFn Unpack>
void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
          size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    const PanelLayout p(F, n);
    const GroupLayout g(F, n);
    auto* panel = static_cast<unsigned char*>(scratch);
    configure_tiles(F.sub);
    for (int64_t r = 0; r < nr; r += kRows) {
        Unpack(n, static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride,
               w_stride, panel);
        for (int64_t j = 0; j < n_groups; ++j) {
            panel_times_group<F>(panel, p,
                                 static_cast<const unsigned char*>(groups) +
                                     static_cast<size_t>(j) * group_stride,
                                 g, dst + static_cast<size_t>(j) * kRows * ldd + r, ldd);
        }
    }
    _tile_release();
}

template <const Format& F>
size_t group_bytes(int64_t n) {
    return GroupLayout(F, n).bytes;
}
template <const Format& F>
size_t panel_bytes(int64_t n) {
    return PanelLayout(F, n).bytes;
}

template <const Format& F, UnpackFn Unpack>
constexpr GemmKernels gemm_kernels() {
    return {&group_bytes<F>, &panel_bytes<F>, &pack<F>, &gemm<F, Unpack>};
}

// ---- Q4_0, Q4_1 and Q8_0 repacked (packed_rows.hpp's layouts) -----------------------
//
// Here the weights are the B operand: a repacked block's quants, unpacked and less their
// offset, are already B tile rows (16 rows x 4 consecutive elements per dword), so
// unpacking is 8 to 16 vector operations per block of 16 rows; the A operand is 16 converted
// activation columns read in place (Q8_0 blocks, 32 quants at +2). C[c][r]: columns by rows,
// so results store as rows of dst. Used where the backend repacked a weight (it then never
// reads the original, and the original's pages can leave memory).

constexpr int64_t kPackedPanelGroups = 8;  // 16-row groups unpacked at a time

// One 16-row group: per block, the B tile (8 x 64 signed bytes), 16 row scales and (types
// with a min) 16 row mins.
struct PackedPanel {
    int64_t nb;
    size_t scales, mins, bytes;
    explicit PackedPanel(int64_t n) : nb(n / kQK8_0) {
        scales = static_cast<size_t>(nb) * 512;
        mins = scales + static_cast<size_t>(nb) * kRows * sizeof(float);
        bytes = mins + static_cast<size_t>(nb) * kRows * sizeof(float);
    }
};

template <typename Rows>
void unpack_packed(const unsigned char* src, const PackedPanel& p, unsigned char* panel) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(Rows::kOffset));
    auto* scales = reinterpret_cast<float*>(panel + p.scales);
    auto* mins = reinterpret_cast<float*>(panel + p.mins);
    for (int64_t b = 0; b < p.nb; ++b) {
        const unsigned char* c = src + static_cast<size_t>(b) * Rows::kBlockBytes;
        unsigned char* tile = panel + static_cast<size_t>(b) * 512;
        __m512i q[8];
        packed::unpack<Rows>(c, q);
        for (int k = 0; k < 8; ++k) _mm512_storeu_si512(tile + 64 * k, _mm512_sub_epi8(q[k], offset));
        _mm512_storeu_ps(scales + b * kRows, packed::row_scales<Rows>(c));
        if constexpr (Rows::kMin) _mm512_storeu_ps(mins + b * kRows, packed::row_mins<Rows>(c));
    }
}

// 16 activation columns (Q8_0 rows a_stride apart) times one unpacked group, over all blocks.
// da: the columns' block scales [nb][16]; da_sums (types with a min): d_a * sum(a), the same.
template <bool kMin>
void packed_panel_times_columns(const unsigned char* panel, const PackedPanel& p,
                                const unsigned char* act, size_t a_stride, const float* da,
                                const float* da_sums, float* dst, size_t ldd) {
    const auto* wscale = reinterpret_cast<const float*>(panel + p.scales);
    const auto* wmin = reinterpret_cast<const float*>(panel + p.mins);
    alignas(64) int32_t c0[kRows][kRows];
    alignas(64) int32_t c1[kRows][kRows];
    __m512 acc[kRows];
    for (__m512& a : acc) a = _mm512_setzero_ps();
    auto a_tile = [&](int64_t b) { return act + static_cast<size_t>(b) * sizeof(BlockQ8_0) + 2; };
    auto w_tile = [&](int64_t b) { return panel + static_cast<size_t>(b) * 512; };
    auto scale = [&](const int32_t(&c)[kRows][kRows], int64_t b) {
        scale_into(acc, c, wscale + b * kRows, da + b * kRows);
        // C is columns by rows here: the min's term is m_w (a row vector) per column.
        if constexpr (kMin) add_mins(acc, wmin + b * kRows, da_sums + b * kRows);
    };
    // As panel_times_group: step b issues product b + 1, scales b - 1, stores b.
    const int64_t nb = p.nb;
    tile_product0<false>(a_tile(0), a_stride, w_tile(0));
    for (int64_t b = 0;; b += 2) {
        if (b + 1 < nb) tile_product1<false>(a_tile(b + 1), a_stride, w_tile(b + 1));
        if (b > 0) scale(c1, b - 1);
        _tile_stored(2, c0, 64);
        if (b + 1 >= nb) {
            scale(c0, b);
            break;
        }
        if (b + 2 < nb) tile_product0<false>(a_tile(b + 2), a_stride, w_tile(b + 2));
        scale(c0, b);
        _tile_stored(5, c1, 64);
        if (b + 2 >= nb) {
            scale(c1, b + 1);
            break;
        }
    }
    for (int c = 0; c < kRows; ++c) _mm512_storeu_ps(dst + static_cast<size_t>(c) * ldd, acc[c]);
}

// GemmKernels::gemm for repacked rows: w is the repacked data of row 0 (w_stride unused);
// `groups` are the converted columns themselves, group_stride = 16 column strides.
template <typename Rows>
void gemm_packed(int64_t n, const void* w, size_t, int64_t nr, const void* groups,
                 size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    const PackedPanel p(n);
    const size_t a_stride = group_stride / kRows;
    auto* panels = static_cast<unsigned char*>(scratch);
    auto* da = reinterpret_cast<float*>(panels + kPackedPanelGroups * p.bytes);  // [nb][16]
    float* da_sums = da + p.nb * kRows;                                           // [nb][16]
    const auto* src = static_cast<const unsigned char*>(w);
    const size_t group_bytes = static_cast<size_t>(p.nb) * Rows::kBlockBytes;
    configure_tiles(32);
    for (int64_t g0 = 0; g0 < nr / kRows; g0 += kPackedPanelGroups) {
        const int64_t gn = nr / kRows - g0 < kPackedPanelGroups ? nr / kRows - g0 : kPackedPanelGroups;
        for (int64_t g = 0; g < gn; ++g) {
            unpack_packed<Rows>(src + static_cast<size_t>(g0 + g) * group_bytes, p,
                                panels + static_cast<size_t>(g) * p.bytes);
        }
        for (int64_t j = 0; j < n_groups; ++j) {
            const auto* act = static_cast<const unsigned char*>(groups) + static_cast<size_t>(j) * group_stride;
            for (int c = 0; c < kRows; ++c) {  // the 16 columns' block scales, as floats
                const auto* col = reinterpret_cast<const BlockQ8_0*>(act + static_cast<size_t>(c) * a_stride);
                for (int64_t b = 0; b < p.nb; ++b) {
                    const float d = load_f16(&col[b].d);
                    da[b * kRows + c] = d;
                    if constexpr (Rows::kMin) {
                        da_sums[b * kRows + c] = d * static_cast<float>(q8_0_sum(col[b].qs));
                    }
                }
            }
            for (int64_t g = 0; g < gn; ++g) {
                packed_panel_times_columns<Rows::kMin>(
                    panels + static_cast<size_t>(g) * p.bytes, p, act, a_stride, da, da_sums,
                    dst + static_cast<size_t>(j) * kRows * ldd + static_cast<size_t>(g0 + g) * kRows,
                    ldd);
            }
        }
    }
    _tile_release();
}

size_t packed_group_bytes(int64_t) { return 0; }  // nothing packed: columns read in place
size_t packed_scratch_bytes(int64_t n) {
    const PackedPanel p(n);
    return kPackedPanelGroups * p.bytes + 2 * static_cast<size_t>(p.nb) * kRows * sizeof(float);
}

template <typename Rows>
constexpr GemmKernels packed_gemm_kernels() {
    return {&packed_group_bytes, &packed_scratch_bytes, nullptr, &gemm_packed<Rows>};
}

}  // namespace

const GemmKernels q4_0_packed_gemm_amx = packed_gemm_kernels<packed::Q4_0Rows>();
const GemmKernels q4_1_packed_gemm_amx = packed_gemm_kernels<packed::Q4_1Rows>();
const GemmKernels q8_0_packed_gemm_amx = packed_gemm_kernels<packed::Q8_0Rows>();
const GemmKernels q4_0_gemm_amx = gemm_kernels<kQ8_0Format, &unpack_q4_0>();
const GemmKernels q8_0_gemm_amx = gemm_kernels<kQ8_0Format, &unpack_q8_0>();
const GemmKernels q4_1_gemm_amx = gemm_kernels<kQ4_1Format, &unpack_min_block<BlockQ4_1, false>>();
const GemmKernels q5_0_gemm_amx = gemm_kernels<kQ8_0Format, &unpack_q5_0>();
const GemmKernels q5_1_gemm_amx = gemm_kernels<kQ4_1Format, &unpack_min_block<BlockQ5_1, true>>();
const GemmKernels q4_k_gemm_amx = gemm_kernels<kQ4_KFormat, &unpack_k4<BlockQ4_K, false>>();
const GemmKernels q5_k_gemm_amx = gemm_kernels<kQ4_KFormat, &unpack_k4<BlockQ5_K, true>>();
const GemmKernels q6_k_gemm_amx = gemm_kernels<kQ6_KFormat, &unpack_q6_k>();

}  // namespace llamux::cpu
