// AVX2 prompt products for Q4_0 (GemmKernels): weights times 16 activation columns at a time
// with no horizontal sums. Compiled only with -mavx2 -mfma -mf16c; called only after
// detect_isa() found AVX2.
//
// The 4x4 tiles (kernels_avx2_legacy.cpp) multiply one weight block with one column per
// vector and then fold each column's 8 lanes into one (shuffles, the scarce port). Here a
// vector holds 8 columns instead: the activations are packed so that 32 bytes are 4
// consecutive elements of each of 8 columns, and the 4 matching weight bytes are broadcast
// to every lane. vpmaddubsw then sums the products of each column in its own lanes; 8 such
// steps cover a 32-element block, summed in int16 (8 steps x 2 x 15 x 128 = 30720 fits), and
// one vpmaddwd widens them: lane c of the result is column c's integer dot. Weights are the
// stored values 0..15 (q + 8); the 8 * sum(a) that this adds is precomputed per column and
// block when the activations are packed. Then, per block, one multiply by d_w * d_a and an
// add per 8 dot products, in float (integer sums exact, so only the float order differs
// from vec_dot).
//
// Layouts:
//  - packed activations, a group of 16 columns: per block b, per half h (columns 8h..8h+7),
//    kHalfBlockBytes: 8 steps of 32 bytes (step s: column c's elements 4s..4s+3 at bytes
//    4c..4c+3), 8 float scales d_a, 8 int32 8 * sum(q_a);
//  - scratch (per thread): 16 weight rows unpacked, per row and block 32 bytes 0..15 in
//    element order, then the rows' scales as floats.
// On a Xeon (Sapphire Rapids) capped to AVX2, one thread: 124 GMAC/s against 49 for the
// 4x4 tiles (a stand-alone copy of both loops, 64 x 64 x 4096).
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "simd_avx2.hpp"

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kHalf = kGemmBlock / 2;                        // columns per vector
constexpr size_t kSteps = kQK4_0 / 4;                        // 4-element steps per block
constexpr size_t kHalfBlockBytes = kSteps * 32 + 32 + 32;    // quants, d_a, 8 * sum(a)
constexpr size_t kGroupBlockBytes = 2 * kHalfBlockBytes;
constexpr int kTileRows = 4;  // weight rows per accumulator set (4 + 8 + 4 registers)

static_assert(kGemmBlock == 16 && kGemmBlock % kTileRows == 0);

size_t group_bytes(int64_t n) { return static_cast<size_t>(n / kQK4_0) * kGroupBlockBytes; }

size_t scratch_bytes(int64_t n) {
    const auto nb = static_cast<size_t>(n / kQK4_0);
    return kGemmBlock * nb * (32 + sizeof(float));
}

void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    const int64_t nb = n / kQK4_0;
    auto* out = static_cast<uint8_t*>(group);
    for (int c = 0; c < kGemmBlock; ++c) {
        const BlockQ8_0* col = row_at<BlockQ8_0>(a, a_stride, c);
        const int h = c / kHalf, lane = c % kHalf;
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* half = out + static_cast<size_t>(b) * kGroupBlockBytes + h * kHalfBlockBytes;
            for (size_t s = 0; s < kSteps; ++s) std::memcpy(half + 32 * s + 4 * lane, col[b].qs + 4 * s, 4);
            const float d = load_f16(&col[b].d);
            int32_t sum = 0;
            for (int j = 0; j < kQK8_0; ++j) sum += col[b].qs[j];
            const int32_t offset_sum = 8 * sum;
            std::memcpy(half + kSteps * 32 + 4 * lane, &d, 4);
            std::memcpy(half + kSteps * 32 + 32 + 4 * lane, &offset_sum, 4);
        }
    }
}

// kGemmBlock rows of weights into the scratch layout.
void unpack_rows(int64_t nb, const void* w, size_t w_stride, uint8_t* quants, float* scales) {
    for (int r = 0; r < kGemmBlock; ++r) {
        const BlockQ4_0* row = row_at<BlockQ4_0>(w, w_stride, r);
        for (int64_t b = 0; b < nb; ++b) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(quants + (r * nb + b) * 32), nibbles_lo_hi(row[b].qs));
            scales[r * nb + b] = load_f16(&row[b].d);
        }
    }
}

// kTileRows unpacked rows (quants/scales of the first; rows nb blocks apart) times the 8
// columns of one half group (`half`: its block 0; blocks kGroupBlockBytes apart).
// dst[c * ldd + r] for c < 8, r < kTileRows.
void rows_times_half(int64_t nb, const uint8_t* quants, const float* scales, const uint8_t* half, float* dst,
                     size_t ldd) {
    __m256 acc[kTileRows];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* a = half + static_cast<size_t>(b) * kGroupBlockBytes;
        __m256i av[kSteps];
        for (size_t s = 0; s < kSteps; ++s) av[s] = loadu256(a + 32 * s);
        const __m256 da = _mm256_loadu_ps(reinterpret_cast<const float*>(a + kSteps * 32));
        const __m256i offset_sums = loadu256(a + kSteps * 32 + 32);
        for (int r = 0; r < kTileRows; ++r) {
            const uint8_t* w = quants + (static_cast<size_t>(r * nb) + static_cast<size_t>(b)) * 32;
            __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi32(static_cast<int>(load_u32(w))), av[0]);
            for (size_t s = 1; s < kSteps; ++s) {
                const __m256i wb = _mm256_set1_epi32(static_cast<int>(load_u32(w + 4 * s)));
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(wb, av[s]));
            }
            const __m256i dots = _mm256_sub_epi32(_mm256_madd_epi16(s16, ones), offset_sums);
            const __m256 scale = _mm256_mul_ps(_mm256_broadcast_ss(scales + r * nb + b), da);
            acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dots), acc[r]);
        }
    }
    for (int r = 0; r < kTileRows; ++r) {
        float lanes[kHalf];
        _mm256_storeu_ps(lanes, acc[r]);
        for (int c = 0; c < kHalf; ++c) dst[static_cast<size_t>(c) * ldd + static_cast<size_t>(r)] = lanes[c];
    }
}

void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups, size_t group_stride,
          int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    const int64_t nb = n / kQK4_0;
    auto* quants = static_cast<uint8_t*>(scratch);
    auto* scales = reinterpret_cast<float*>(quants + kGemmBlock * nb * 32);
    for (int64_t r0 = 0; r0 < nr; r0 += kGemmBlock) {
        unpack_rows(nb, static_cast<const uint8_t*>(w) + static_cast<size_t>(r0) * w_stride, w_stride, quants, scales);
        for (int64_t j = 0; j < n_groups; ++j) {
            const auto* group = static_cast<const uint8_t*>(groups) + static_cast<size_t>(j) * group_stride;
            for (int h = 0; h < 2; ++h) {
                for (int r = 0; r < kGemmBlock; r += kTileRows) {
                    rows_times_half(nb, quants + static_cast<size_t>(r * nb) * 32, scales + r * nb,
                                    group + h * kHalfBlockBytes,
                                    dst + static_cast<size_t>(j * kGemmBlock + h * kHalf) * ldd +
                                        static_cast<size_t>(r0 + r),
                                    ldd);
                }
            }
        }
    }
}

}  // namespace

const GemmKernels q4_0_gemm_avx2 = {&group_bytes, &scratch_bytes, &pack, &gemm};

}  // namespace llamux::cpu
