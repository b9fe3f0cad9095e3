// AVX-512 (F, BW, VL, VNNI) kernels for the 32-element block formats against Q8_0
// activations. Compiled only with the AVX-512 flags; called only after detect_isa() found
// them. The Q8_0 activation quantizer stays the AVX2 one (it is not on the hot path).
//
// One zmm holds two blocks (64 elements). Weight quants are made unsigned bytes and
// multiplied with the signed activation bytes by vpdpbusd (4 products summed into an int32
// lane, exact); the bias of the unsigned quants is taken back per block from the
// activation's sum: dot(q - o, a) = dot(q, a) - o sum(a), with o = 8 (Q4_0), 16 (Q5_0),
// 128 (Q8_0, whose signed quants are flipped to unsigned by xor 0x80). Q4_1 and Q5_1 keep
// q unsigned and add m_w d_a sum(a) as vec_dot_ref does. Only float rounding order differs
// from the scalar twins.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include <type_traits>

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

// ---- word permutations ------------------------------------------------------------------

// For nibble blocks of `stride` bytes with qs at byte `off`: [qs0, qs0, qs1, qs1] as 4 groups
// of 8 words (the second copy of each is shifted right by 4 to give the high nibbles).
template <int Stride, int Off>
struct NibbleIndex {
    uint16_t qs[32];
    uint16_t scales[32];  // [d0 x8, d1 x8, m0 x8, m1 x8]; m at byte 2 (only Q4_1/Q5_1)
    constexpr NibbleIndex() : qs{}, scales{} {
        for (int k = 0; k < 8; ++k) {
            qs[k] = static_cast<uint16_t>(Off / 2 + k);
            qs[8 + k] = static_cast<uint16_t>(Off / 2 + k);
            qs[16 + k] = static_cast<uint16_t>((Stride + Off) / 2 + k);
            qs[24 + k] = static_cast<uint16_t>((Stride + Off) / 2 + k);
            scales[k] = 0;
            scales[8 + k] = static_cast<uint16_t>(Stride / 2);
            scales[16 + k] = 1;
            scales[24 + k] = static_cast<uint16_t>(Stride / 2 + 1);
        }
    }
};

// d of two Q8_0 blocks (34 bytes apart): [d0 x8, d1 x8] in the low 256 bits.
struct Q8Index {
    uint16_t scales[32];
    constexpr Q8Index() : scales{} {
        for (int k = 0; k < 8; ++k) {
            scales[k] = 0;
            scales[8 + k] = sizeof(BlockQ8_0) / 2;
        }
    }
};
constexpr Q8Index kQ8Index{};

inline __m512i nibble_shifts() {  // 0 for the low-nibble copies, 4 for the high ones
    return _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
                            0x0004000400040004, 0, 0);
}

// Two activation blocks: the quants, and [da0 x8 | da1 x8].
struct Act2 {
    __m512i q;
    __m512 d;
};
inline Act2 load_act2(const BlockQ8_0* a) {
    const __m512i raw = load512(a);  // 64 of the 68 bytes of a[0], a[1]: both scales
    const __m256i h = _mm512_castsi512_si256(_mm512_permutexvar_epi16(word_index(kQ8Index.scales), raw));
    return {load_2x256(a[0].qs, a[1].qs), _mm512_cvtph_ps(h)};
}

// ---- weight formats: two blocks as 64 unsigned bytes, with their scales ------------------

struct W2 {
    __m512i q;
    __m512 d;  // [d0 x8 | d1 x8]
    __m512 m;  // [m0 x8 | m1 x8] (types with a min)
};

template <typename Block, int Off, bool kHigh, bool kHasMin>
struct NibbleFormat {
    using BlockType = Block;
    static constexpr bool kMin = kHasMin;
    static constexpr NibbleIndex<sizeof(Block), Off> kIndex{};
    static W2 load2(const Block* b) {
        const __m512i raw = load_first(b, 2 * static_cast<int>(sizeof(Block)));
        __m512i q = _mm512_permutexvar_epi16(word_index(kIndex.qs), raw);
        q = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shifts()), _mm512_set1_epi8(0x0F));
        if constexpr (kHigh) {  // bit 4 of element j of block k: bit j of b[k].qh
            const uint64_t bits = static_cast<uint64_t>(load_u32(b[0].qh)) |
                                  (static_cast<uint64_t>(load_u32(b[1].qh)) << 32);
            q = _mm512_mask_add_epi8(q, _cvtu64_mask64(bits), q, _mm512_set1_epi8(0x10));
        }
        const __m512i h = _mm512_permutexvar_epi16(word_index(kIndex.scales), raw);
        W2 w{q, _mm512_cvtph_ps(_mm512_castsi512_si256(h)), _mm512_setzero_ps()};
        if constexpr (kHasMin) w.m = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
        return w;
    }
};

using Q4_0Z = NibbleFormat<BlockQ4_0, 2, false, false>;
using Q4_1Z = NibbleFormat<BlockQ4_1, 4, false, true>;
using Q5_0Z = NibbleFormat<BlockQ5_0, 6, true, false>;
using Q5_1Z = NibbleFormat<BlockQ5_1, 8, true, true>;

struct Q8_0Z {
    using BlockType = BlockQ8_0;
    static constexpr bool kMin = false;
    static W2 load2(const BlockQ8_0* b) {
        const Act2 x = load_act2(b);  // same layout as the activations
        return {_mm512_xor_si512(x.q, _mm512_set1_epi8(static_cast<char>(0x80))), x.d,
                _mm512_setzero_ps()};
    }
};

template <typename W>
constexpr int offset_of() {
    if constexpr (std::is_same_v<W, Q4_0Z>) return 8;
    if constexpr (std::is_same_v<W, Q5_0Z>) return 16;
    if constexpr (std::is_same_v<W, Q8_0Z>) return 128;
    return 0;
}

// Per activation pair: what every weight row needs from it.
struct ActPrep {
    __m512i q;
    __m512 d;
    __m512i bias;  // -o sum(a) per lane group (symmetric types): the start of the int sum
    __m512 sum;    // sum(a) per lane group as floats (types with a min)
};
template <typename W>
inline ActPrep prepare_act(const BlockQ8_0* a) {
    const Act2 x = load_act2(a);
    ActPrep p{x.q, x.d, _mm512_setzero_si512(), _mm512_setzero_ps()};
    constexpr int kOff = offset_of<W>();
    if constexpr (W::kMin) {
        p.sum = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), x.q));
    } else {
        const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                              _mm512_set1_epi8(static_cast<char>(kOff)), x.q);
        p.bias = _mm512_sub_epi32(_mm512_setzero_si512(), s);
    }
    return p;
}

template <typename W>
inline __m512 pair_step(const W2& w, const ActPrep& a, __m512 acc) {
    const __m512i dot = _mm512_dpbusd_epi32(a.bias, w.q, a.q);
    acc = _mm512_fmadd_ps(_mm512_mul_ps(w.d, a.d), _mm512_cvtepi32_ps(dot), acc);
    if constexpr (W::kMin) acc = _mm512_fmadd_ps(_mm512_mul_ps(w.m, a.d), a.sum, acc);
    return acc;
}

// The last block of an odd-length row goes through the AVX2 kernel (one block, exact ints).
template <typename W>
float tail_block(const typename W::BlockType* w, const BlockQ8_0* a) {
    if constexpr (std::is_same_v<W, Q4_0Z>) return q4_0_dot_avx2(kQK8_0, w, a);
    if constexpr (std::is_same_v<W, Q4_1Z>) return q4_1_dot_avx2(kQK8_0, w, a);
    if constexpr (std::is_same_v<W, Q5_0Z>) return q5_0_dot_avx2(kQK8_0, w, a);
    if constexpr (std::is_same_v<W, Q5_1Z>) return q5_1_dot_avx2(kQK8_0, w, a);
    if constexpr (std::is_same_v<W, Q8_0Z>) return q8_0_dot_avx2(kQK8_0, w, a);
}

template <typename W>
float legacy_dot(int64_t n, const void* wv, const void* av) {
    const auto* w = static_cast<const typename W::BlockType*>(wv);
    const auto* a = static_cast<const BlockQ8_0*>(av);
    const int64_t nb = n / kQK8_0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        prefetch_block_ahead(w + i, 4 * sizeof(typename W::BlockType));
        acc0 = pair_step<W>(W::load2(w + i), prepare_act<W>(a + i), acc0);
        acc1 = pair_step<W>(W::load2(w + i + 2), prepare_act<W>(a + i + 2), acc1);
    }
    if (i + 2 <= nb) {
        acc0 = pair_step<W>(W::load2(w + i), prepare_act<W>(a + i), acc0);
        i += 2;
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (i < nb) sum += tail_block<W>(w + i, a + i);
    return sum;
}

template <typename W>
struct LegacyTile {
    template <int NR, int NC>
    struct Kernel {
        static void run(int64_t n, const void* w, size_t w_stride, const void* a,
                        size_t a_stride, float* dst, size_t ldd) {
            using Block = typename W::BlockType;
            const int64_t nb = n / kQK8_0;
            const Block* wr[NR];
            const BlockQ8_0* ac[NC];
            for (int r = 0; r < NR; ++r) wr[r] = row_at<Block>(w, w_stride, r);
            for (int c = 0; c < NC; ++c) ac[c] = row_at<BlockQ8_0>(a, a_stride, c);
            __m512 acc[NR][NC];
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
            }
            int64_t i = 0;
            for (; i + 2 <= nb; i += 2) {
                if (i % 4 == 0) {
                    for (int r = 0; r < NR; ++r) prefetch_block_ahead(wr[r] + i, 4 * sizeof(Block));
                }
                ActPrep ap[NC];
                for (int c = 0; c < NC; ++c) ap[c] = prepare_act<W>(ac[c] + i);
                for (int r = 0; r < NR; ++r) {
                    const W2 wv = W::load2(wr[r] + i);
                    for (int c = 0; c < NC; ++c) acc[r][c] = pair_step<W>(wv, ap[c], acc[r][c]);
                }
            }
            for (int r = 0; r < NR; ++r) {
                for (int c = 0; c < NC; ++c) {
                    float sum = _mm512_reduce_add_ps(acc[r][c]);
                    if (i < nb) sum += tail_block<W>(wr[r] + i, ac[c] + i);
                    dst[static_cast<size_t>(c) * ldd + r] = sum;
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

}  // namespace

float q4_0_dot_avx512(int64_t n, const void* w, const void* a) { return legacy_dot<Q4_0Z>(n, w, a); }
float q4_1_dot_avx512(int64_t n, const void* w, const void* a) { return legacy_dot<Q4_1Z>(n, w, a); }
float q5_0_dot_avx512(int64_t n, const void* w, const void* a) { return legacy_dot<Q5_0Z>(n, w, a); }
float q5_1_dot_avx512(int64_t n, const void* w, const void* a) { return legacy_dot<Q5_1Z>(n, w, a); }
float q8_0_dot_avx512(int64_t n, const void* w, const void* a) { return legacy_dot<Q8_0Z>(n, w, a); }

void q4_0_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    legacy_tile<Q4_0Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q4_1_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    legacy_tile<Q4_1Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_0_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    legacy_tile<Q5_0Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q5_1_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    legacy_tile<Q5_1Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}
void q8_0_tile_avx512(int64_t n, const void* w, size_t ws, const void* a, size_t as, float* dst,
                      size_t ldd, int nr, int nc) {
    legacy_tile<Q8_0Z>(n, w, ws, a, as, dst, ldd, nr, nc);
}

}  // namespace llamux::cpu
