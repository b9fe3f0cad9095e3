// AVX-512 (F, BW, VL, VNNI) generation on repacked Q4_0 weights. Compiled only with the
// AVX-512 flags; called only after detect_isa() found them.
//
// Layout: per group of kPackedRows = 16 rows, per block b of 32 elements, 288 bytes:
//  - 4 chunks p = 0..3 of 64 bytes; byte 4r + i of chunk p holds element 8p + i of row r in
//    its low nibble and element 8p + 4 + i in its high nibble (the 4-bit quants, 0..15);
//  - the 16 rows' f16 scales d.
// So chunk p & 0x0F has, in int32 lane r, row r's elements 8p..8p+3, the four that vpdpbusd
// multiplies with one broadcast dword of activations: 8 vpdpbusd per block give 16 rows'
// integer dots with no horizontal sum. The -8 of Q4_0 is taken back as 8 * sum(a) per block,
// computed once per call. Integer sums are exact; only float order differs from vec_dot.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kRows = kPackedRows;
constexpr size_t kGroupBlockBytes = kPackedQ4_0BlockBytes;  // 288
constexpr int64_t kMaxBlocks = 1024;  // activation blocks prepared at a time (a stack table)
constexpr int kStreams = 4;           // groups walked side by side (see gemv_blocks)
constexpr size_t kPrefetchBlocks = 4;  // software prefetch distance, in blocks of a group

size_t packed_bytes(int64_t n, int64_t rows) {
    return static_cast<size_t>(rows / kRows) * static_cast<size_t>(n / kQK4_0) * kGroupBlockBytes;
}

// One row's block into the 4 chunks. With lo/hi the low/high nibbles of qs (elements
// j and j + 16), byte i of chunk p is element 8p + i | element 8p + 4 + i << 4:
//   p = 0, 1: lo[8p + i] | lo[8p + 4 + i] << 4;   p = 2, 3: hi[8p - 16 + i] | hi[8p - 12 + i] << 4,
// i.e. bytes 0..3 (p even) and 8..11 (p odd) of v | (v shifted down 4 bytes) << 4.
inline void repack_row_block(const BlockQ4_0& blk, int r, uint8_t* chunk) {
    const __m128i x = loadu128(blk.qs);
    const __m128i low = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(x, low);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low);
    const __m128i t_lo = _mm_or_si128(lo, _mm_slli_epi16(_mm_srli_si128(lo, 4), 4));
    const __m128i t_hi = _mm_or_si128(hi, _mm_slli_epi16(_mm_srli_si128(hi, 4), 4));
    const int dwords[4] = {_mm_cvtsi128_si32(t_lo), _mm_extract_epi32(t_lo, 2),
                           _mm_cvtsi128_si32(t_hi), _mm_extract_epi32(t_hi, 2)};
    for (int p = 0; p < 4; ++p) std::memcpy(chunk + 64 * p + 4 * r, &dwords[p], 4);
}

void repack(int64_t n, const void* w, size_t w_stride, int64_t rows, void* out) {
    const int64_t nb = n / kQK4_0;
    auto* dst = static_cast<uint8_t*>(out);
    for (int64_t g = 0; g < rows / kRows; ++g) {
        for (int r = 0; r < kRows; ++r) {
            const auto* row = reinterpret_cast<const BlockQ4_0*>(
                static_cast<const uint8_t*>(w) + static_cast<size_t>(g * kRows + r) * w_stride);
            for (int64_t b = 0; b < nb; ++b) {
                uint8_t* chunk = dst + static_cast<size_t>(g * nb + b) * kGroupBlockBytes;
                repack_row_block(row[b], r, chunk);
                std::memcpy(chunk + 4 * 64 + 2 * r, &row[b].d, sizeof(uint16_t));
            }
        }
    }
}

// 8 * sum(q) of an activation block: what Q4_0's -8 takes from the unsigned dot.
inline int32_t q4_0_bias(const BlockQ8_0& a) {
    const __m256i q = loadu256(a.qs);
    return 8 * hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                                          _mm256_set1_epi16(1)));
}

// Activation quants 4k..4k+3, in every int32 lane.
inline __m512i dword_of(const int8_t* aq, int k) {
    return _mm512_set1_epi32(static_cast<int>(load_u32(aq + 4 * k)));
}

// 16 rows' dots for one block: int32 lane r = sum_e q[r][e] * a[e] - 8 * sum(a).
// aq: the activation block's 32 quants (2 bytes into the block: read with memcpy loads).
inline __m512i block_dot(const uint8_t* chunk, const int8_t* aq, int32_t bias) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512i s0 = _mm512_set1_epi32(-bias), s1 = _mm512_setzero_si512();
    for (int p = 0; p < 4; ++p) {
        const __m512i bytes = load512(chunk + 64 * p);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(bytes, low), dword_of(aq, 2 * p));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low),
                                 dword_of(aq, 2 * p + 1));
    }
    return _mm512_add_epi32(s0, s1);
}

// Rows g0..g1 over blocks [b0, b1), added to y when `accumulate`. The groups are walked as
// kStreams interleaved runs from distant parts of the range: one core then keeps several
// independent memory streams in flight, which on the machines measured reads weights ~30%
// faster than one stream (generation is bound by how fast a core pulls memory).
void gemv_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const BlockQ8_0* a,
                 int64_t b0, int64_t b1, bool accumulate, float* y) {
    // Per activation block, once: its scale and 8 * sum(q).
    alignas(64) float da[kMaxBlocks];
    alignas(64) int32_t bias[kMaxBlocks];
    for (int64_t b = b0; b < b1; ++b) {
        da[b - b0] = load_f16(&a[b].d);
        bias[b - b0] = q4_0_bias(a[b]);
    }
    auto step = [&](const uint8_t* group, __m512 acc, int64_t b) {
        const uint8_t* c = group + static_cast<size_t>(b) * kGroupBlockBytes;
        const char* ahead = reinterpret_cast<const char*>(c) + kPrefetchBlocks * kGroupBlockBytes;
        for (size_t off = 0; off < kGroupBlockBytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
        const __m512i dot = block_dot(c, a[b].qs, bias[b - b0]);
        const __m512 dw = _mm512_cvtph_ps(loadu256(c + 4 * 64));
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
                               _mm512_mul_ps(dw, _mm512_set1_ps(da[b - b0])), acc);
    };
    auto finish = [&](int64_t g, __m512 sum) {
        if (accumulate) sum = _mm512_add_ps(sum, _mm512_loadu_ps(y + g * kRows));
        _mm512_storeu_ps(y + g * kRows, sum);
    };
    auto group_at = [&](int64_t g) { return base + static_cast<size_t>(g * nb) * kGroupBlockBytes; };

    const int64_t part = (g1 - g0) / kStreams;
    for (int64_t g = g0; g < g0 + part; ++g) {
        __m512 acc[kStreams];
        for (__m512& v : acc) v = _mm512_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            for (int i = 0; i < kStreams; ++i) acc[i] = step(group_at(g + i * part), acc[i], b);
        }
        for (int i = 0; i < kStreams; ++i) finish(g + i * part, acc[i]);
    }
    for (int64_t g = g0 + kStreams * part; g < g1; ++g) {  // the rest, one stream
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        int64_t b = b0;
        for (; b + 2 <= b1; b += 2) {
            acc0 = step(group_at(g), acc0, b);
            acc1 = step(group_at(g), acc1, b + 1);
        }
        if (b < b1) acc0 = step(group_at(g), acc0, b);
        finish(g, _mm512_add_ps(acc0, acc1));
    }
}

void gemv(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a, float* y) {
    const int64_t nb = n / kQK4_0;
    for (int64_t b0 = 0; b0 < nb; b0 += kMaxBlocks) {
        gemv_blocks(nb, static_cast<const uint8_t*>(packed), g0, g1,
                    static_cast<const BlockQ8_0*>(a), b0, nb - b0 < kMaxBlocks ? nb : b0 + kMaxBlocks,
                    b0 > 0, y);
    }
}

// A few columns at once (prompts too short for a matrix unit, and its edge columns): each
// block's nibbles are unpacked once for NC columns. One group at a time, blocks in order.
template <int NC>
void columns_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const uint8_t* act,
                    size_t a_stride, int64_t b0, int64_t b1, bool accumulate, float* y,
                    size_t ldy) {
    alignas(64) float da[NC][kMaxBlocks];
    alignas(64) int32_t bias[NC][kMaxBlocks];
    const BlockQ8_0* col[NC];
    for (int c = 0; c < NC; ++c) {
        col[c] = reinterpret_cast<const BlockQ8_0*>(act + static_cast<size_t>(c) * a_stride);
        for (int64_t b = b0; b < b1; ++b) {
            da[c][b - b0] = load_f16(&col[c][b].d);
            bias[c][b - b0] = q4_0_bias(col[c][b]);
        }
    }
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int64_t g = g0; g < g1; ++g) {
        const uint8_t* group = base + static_cast<size_t>(g * nb) * kGroupBlockBytes;
        __m512 acc[NC];
        for (__m512& v : acc) v = _mm512_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const uint8_t* c8 = group + static_cast<size_t>(b) * kGroupBlockBytes;
            __m512i q[8];
            for (int p = 0; p < 4; ++p) {
                const __m512i bytes = load512(c8 + 64 * p);
                q[2 * p] = _mm512_and_si512(bytes, low);
                q[2 * p + 1] = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low);
            }
            const __m512 dw = _mm512_cvtph_ps(loadu256(c8 + 4 * 64));
            for (int c = 0; c < NC; ++c) {
                __m512i s0 = _mm512_set1_epi32(-bias[c][b - b0]), s1 = _mm512_setzero_si512();
                for (int k = 0; k < 8; k += 2) {
                    s0 = _mm512_dpbusd_epi32(s0, q[k], dword_of(col[c][b].qs, k));
                    s1 = _mm512_dpbusd_epi32(s1, q[k + 1], dword_of(col[c][b].qs, k + 1));
                }
                acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                                         _mm512_mul_ps(dw, _mm512_set1_ps(da[c][b - b0])), acc[c]);
            }
        }
        for (int c = 0; c < NC; ++c) {
            float* out = y + static_cast<size_t>(c) * ldy + static_cast<size_t>(g) * kRows;
            __m512 v = acc[c];
            if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(out));
            _mm512_storeu_ps(out, v);
        }
    }
}

void columns(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a,
             size_t a_stride, int64_t nc, float* y, size_t ldy) {
    const int64_t nb = n / kQK4_0;
    const auto* base = static_cast<const uint8_t*>(packed);
    for (int64_t c0 = 0; c0 < nc; c0 += 4) {
        const auto* act = static_cast<const uint8_t*>(a) + static_cast<size_t>(c0) * a_stride;
        float* yc = y + static_cast<size_t>(c0) * ldy;
        for (int64_t b0 = 0; b0 < nb; b0 += kMaxBlocks) {
            const int64_t b1 = nb - b0 < kMaxBlocks ? nb : b0 + kMaxBlocks;
            switch (nc - c0 < 4 ? nc - c0 : 4) {
                case 1: columns_blocks<1>(nb, base, g0, g1, act, a_stride, b0, b1, b0 > 0, yc, ldy); break;
                case 2: columns_blocks<2>(nb, base, g0, g1, act, a_stride, b0, b1, b0 > 0, yc, ldy); break;
                case 3: columns_blocks<3>(nb, base, g0, g1, act, a_stride, b0, b1, b0 > 0, yc, ldy); break;
                default: columns_blocks<4>(nb, base, g0, g1, act, a_stride, b0, b1, b0 > 0, yc, ldy); break;
            }
        }
    }
}

}  // namespace

const PackedGemvKernels q4_0_packed_avx512 = {&packed_bytes, &repack, &gemv, &columns};

}  // namespace llamux::cpu
