// AVX-512 (F, BW, VL, VNNI) generation on repacked weights: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, in the
// layouts of packed_rows.hpp. Compiled only with the AVX-512 flags; called only after
// detect_isa() found them.
//
// Per block of a 16-row group, 8 vpdpbusd (unsigned stored quants times one broadcast dword
// of activations each) give the 16 rows' integer dots with no horizontal sum; the offset of
// the stored quants is taken back as kOffset * sum(a) per block, and a min added as
// m * d_a * sum(a), both from sums computed once per call.
// Integer sums are exact; only float order differs from vec_dot.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "packed_rows_avx512.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;
using packed::ActBlocks;

constexpr int kRows = kPackedRows;
constexpr int kStreams = 4;            // groups walked side by side (see gemv_blocks)
constexpr size_t kPrefetchBlocks = 4;  // software prefetch distance, in blocks of a group

// Whether the GEMV walks kStreams interleaved runs of groups: measured faster on a Sapphire
// Rapids VM; on AMD's Zen 5 one group at a time reads faster (1.1B tg64 on 2 threads, A/B
// interleaved, one run against four: Q4_0 68-76 against 63-65 t/s, Q4_1 69-86 / 56-62, Q5_0
// 62-65 / 53-59, Q8_0 43-53 / 35).
bool interleave_streams() {
    static const bool interleave = detect_vendor() != CpuVendor::Amd;
    return interleave;
}

// Activation quants 4k..4k+3, in every int32 lane.
inline __m512i dword_of(const int8_t* aq, int k) {
    return _mm512_set1_epi32(static_cast<int>(load_u32(aq + 4 * k)));
}

// 16 rows' dots for one block: int32 lane r = sum_e q[r][e] * a[e] - bias.
// aq: the activation block's 32 quants (2 bytes into the block: read with memcpy loads).
inline __m512i block_dot(const __m512i (&q)[8], const int8_t* aq, int32_t bias) {
    __m512i s0 = _mm512_set1_epi32(-bias), s1 = _mm512_setzero_si512();
    for (int k = 0; k < 8; k += 2) {
        s0 = _mm512_dpbusd_epi32(s0, q[k], dword_of(aq, k));
        s1 = _mm512_dpbusd_epi32(s1, q[k + 1], dword_of(aq, k + 1));
    }
    return _mm512_add_epi32(s0, s1);
}

// One block of a group (q: its quants, unpacked) into the 16 rows' sums.
template <typename Rows>
inline __m512 block_step(const __m512i (&q)[8], const uint8_t* block, const int8_t* aq,
                         const ActBlocks& p, int64_t i, __m512 acc) {
    const __m512i dot = block_dot(q, aq, p.bias[i]);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
                          _mm512_mul_ps(packed::row_scales<Rows>(block), _mm512_set1_ps(p.da[i])), acc);
    if constexpr (Rows::kMin) acc = _mm512_fmadd_ps(packed::row_mins<Rows>(block), _mm512_set1_ps(p.da_sum[i]), acc);
    return acc;
}

// The products on repacked rows, for packed::PackedProducts.
struct Products {
    // Rows g0..g1 over blocks [b0, b1), added to y when `accumulate`. Where interleave_streams()
    // the groups are walked as kStreams interleaved runs from distant parts of the range: one
    // core then keeps several independent memory streams in flight, which on the Sapphire
    // Rapids VM read weights ~30% faster than one stream (generation is bound by how fast a
    // core pulls memory); elsewhere one group at a time.
    template <typename Rows>
    static void gemv_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const BlockQ8_0* a,
                            const ActBlocks& p, int64_t b0, int64_t b1, bool accumulate, float* y) {
        auto step = [&](int64_t g, __m512 acc, int64_t b) {
            const uint8_t* c = packed::block_prefetching<Rows, kPrefetchBlocks>(base, nb, g, b);
            __m512i q[8];
            packed::unpack<Rows>(c, q);
            return block_step<Rows>(q, c, a[b].qs, p, b - b0, acc);
        };
        auto finish = [&](int64_t g, __m512 sum) {
            if (accumulate) sum = _mm512_add_ps(sum, _mm512_loadu_ps(y + g * kRows));
            _mm512_storeu_ps(y + g * kRows, sum);
        };

        const int64_t part = interleave_streams() ? (g1 - g0) / kStreams : 0;
        for (int64_t g = g0; g < g0 + part; ++g) {
            __m512 acc[kStreams];
            for (__m512& v : acc) v = _mm512_setzero_ps();
            for (int64_t b = b0; b < b1; ++b) {
                for (int i = 0; i < kStreams; ++i) acc[i] = step(g + i * part, acc[i], b);
            }
            for (int i = 0; i < kStreams; ++i) finish(g + i * part, acc[i]);
        }
        for (int64_t g = g0 + kStreams * part; g < g1; ++g) {  // the rest, one stream
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            int64_t b = b0;
            for (; b + 2 <= b1; b += 2) {
                acc0 = step(g, acc0, b);
                acc1 = step(g, acc1, b + 1);
            }
            if (b < b1) acc0 = step(g, acc0, b);
            finish(g, _mm512_add_ps(acc0, acc1));
        }
    }

    // A few columns at once (prompts too short for a matrix unit, and its edge columns): each
    // block is unpacked once for NC columns. One group at a time, blocks in order.
    template <typename Rows, int NC>
    static void columns_blocks(int64_t nb, const uint8_t* base, int64_t g0, int64_t g1, const uint8_t* act,
                               size_t a_stride, int64_t b0, int64_t b1, bool accumulate, float* y,
                               size_t ldy) {
        const packed::PreparedColumns<Rows, NC> prepared(act, a_stride, b0, b1);
        const ActBlocks* p = prepared.p;
        const BlockQ8_0* const* col = prepared.col;
        for (int64_t g = g0; g < g1; ++g) {
            __m512 acc[NC];
            for (__m512& v : acc) v = _mm512_setzero_ps();
            for (int64_t b = b0; b < b1; ++b) {
                const uint8_t* c8 = packed::block_at<Rows>(base, nb, g, b);
                __m512i q[8];
                packed::unpack<Rows>(c8, q);
                for (int c = 0; c < NC; ++c) acc[c] = block_step<Rows>(q, c8, col[c][b].qs, p[c], b - b0, acc[c]);
            }
            for (int c = 0; c < NC; ++c) {
                float* out = y + static_cast<size_t>(c) * ldy + static_cast<size_t>(g) * kRows;
                __m512 v = acc[c];
                if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(out));
                _mm512_storeu_ps(out, v);
            }
        }
    }
};

}  // namespace

const PackedGemvKernels q4_0_packed_avx512 = packed::PackedProducts<packed::Q4_0Rows, Products>::kernels();
const PackedGemvKernels q4_1_packed_avx512 = packed::PackedProducts<packed::Q4_1Rows, Products>::kernels();
const PackedGemvKernels q8_0_packed_avx512 = packed::PackedProducts<packed::Q8_0Rows, Products>::kernels();
const PackedGemvKernels q5_0_packed_avx512 = packed::PackedProducts<packed::Q5_0Rows, Products>::kernels();
const PackedGemvKernels q5_1_packed_avx512 = packed::PackedProducts<packed::Q5_1Rows, Products>::kernels();

}  // namespace llamux::cpu
