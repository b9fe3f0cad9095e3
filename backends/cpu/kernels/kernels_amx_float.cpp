// AMX-BF16 products for prompt processing on F16 and BF16 weights. Compiled with the AVX-512
// flags plus -mamx-tile -mamx-bf16; called only after detect_isa() found AMX (which includes
// AMX-BF16) and the OS granted this process the tile state (kernels_dispatch.cpp).
//
// Exact products without rounding anything: an F16 value has 11 significant bits, a bf16
// 8, so every F16 weight and activation (F16's vec_dot_type is F16) is split into
// hi = its bits truncated to bf16 and lo = value - hi, which has at most 3 significant bits
// and is itself a bf16. Then w a = hi_w hi_a + hi_w lo_a + lo_w hi_a + lo_w lo_a, four
// tile products whose bf16 x bf16 products are exact in the fp32 accumulator, so results
// equal vec_dot's up to float summation order. BF16 weights (and BF16 activations) need
// one product. The accumulator stays in the tile over the whole row (no per-block scales),
// so the tile unit, not AVX-512 scaling, sets the speed.
//
// Layouts, for steps s of 32 elements (the row zero-padded to a whole step):
//  - Weight panel (16 rows, per-thread scratch): for every s, for every term t, the A tile:
//    row r = 32 bf16 of weight row r.
//  - Activation group (pack, 16 converted columns): for every s, for every term t, the B
//    tile: row k = for every column c the pair (x_c[32s + 2k], x_c[32s + 2k + 1]).
//  C[r][c] = dot(weight row r, column c), stored transposed into dst.
#include "simd_avx512.hpp"  // first: see the note on GCC warnings there

#include <cstring>

#include "amx_tiles.hpp"
#include "half_values_avx512.hpp"
#include "kernels_internal.hpp"

#if !defined(__AMX_TILE__) || !defined(__AMX_BF16__)
#error "kernels_amx_float.cpp: compile with -mamx-tile -mamx-bf16"
#endif

namespace llamux::cpu {
namespace {

using namespace simd;

constexpr int kRows = 16;         // weight rows and activation columns of one tile product
constexpr int64_t kStep = 32;     // elements of a row per tile product
constexpr size_t kTileBytes = 1024;

// 8 tiles of 16 rows x 64 bytes: 0, 1: weight terms (A); 2, 3: activation terms (B); 4..7:
// partial sums (C).
void configure_tiles() {
    amx::TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.rows[t] = kRows;
        cfg.colsb[t] = 64;
    }
    amx::load_config(cfg);
}

// ---- element types ------------------------------------------------------------------

struct F16Values : half::F16 {
    static constexpr int kTerms = 2;
};
struct BF16Values : half::BF16 {
    static constexpr int kTerms = 1;
};

// 16 floats, each exactly an F16 or BF16 value, as bf16 terms whose sum is that value.
template <typename V>
inline void split(__m512 x, __m256i (&terms)[V::kTerms]) {
    const __m512i hi = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
    terms[0] = _mm512_cvtepi32_epi16(_mm512_srli_epi32(hi, 16));
    if constexpr (V::kTerms == 2) {
        const __m512 lo = _mm512_sub_ps(x, _mm512_castsi512_ps(hi));  // exact, <= 3 bits
        terms[1] = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(lo), 16));
    }
}

int64_t steps(int64_t n) { return (n + kStep - 1) / kStep; }

// ---- packing ------------------------------------------------------------------------

template <typename V>
size_t group_bytes(int64_t n) {
    return static_cast<size_t>(steps(n)) * V::kTerms * kTileBytes;
}

// 16 converted columns (a, a + a_stride bytes, ...) into B tiles: row k of step s holds
// every column's pair of elements 32s + 2k, 32s + 2k + 1.
template <typename V>
void pack(int64_t n, const void* a, size_t a_stride, void* group) {
    auto* out = static_cast<unsigned char*>(group);
    const auto* base = static_cast<const unsigned char*>(a);
    const __m512i columns = simd::lane_offsets(a_stride);
    for (int64_t s = 0; s < steps(n); ++s) {
        for (int k = 0; k < kRows; ++k) {
            const int64_t e = s * kStep + 2 * k;  // first element of the pair
            __m512i pairs;  // dword c: column c's pair of 16-bit values
            if (e + 1 < n) {
                pairs = _mm512_i32gather_epi32(columns, base + 2 * e, 1);
            } else {  // past the row (zero) or its last element alone: never read past it
                alignas(64) uint32_t tail[kRows] = {};
                for (int c = 0; c < kRows && e < n; ++c) {
                    uint16_t v;
                    std::memcpy(&v, base + static_cast<size_t>(c) * a_stride + 2 * e, sizeof v);
                    tail[c] = v;
                }
                pairs = _mm512_load_si512(tail);
            }
            // 32 values in order (column 0's pair, column 1's, ...): split each half.
            __m256i lo_terms[V::kTerms], hi_terms[V::kTerms];
            split<V>(V::widen(_mm512_castsi512_si256(pairs)), lo_terms);
            split<V>(V::widen(_mm512_extracti64x4_epi64(pairs, 1)), hi_terms);
            for (int t = 0; t < V::kTerms; ++t) {
                unsigned char* row = out + (static_cast<size_t>(s) * V::kTerms + t) * kTileBytes + 64 * k;
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(row), lo_terms[t]);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + 32), hi_terms[t]);
            }
        }
    }
}

// 16 weight rows into A tiles.
template <typename V>
void unpack(int64_t n, const void* w, size_t w_stride, unsigned char* panel) {
    for (int r = 0; r < kRows; ++r) {
        const auto* row = static_cast<const uint16_t*>(
            static_cast<const void*>(static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride));
        for (int64_t s = 0; s < steps(n); ++s) {
            for (int half = 0; half < 2; ++half) {
                const int64_t e = s * kStep + 16 * half;
                __m256i terms[V::kTerms];
                split<V>(half::load_widened<V>(row + e, n - e > 0 ? n - e : 0), terms);
                for (int t = 0; t < V::kTerms; ++t) {
                    unsigned char* tile = panel + (static_cast<size_t>(s) * V::kTerms + t) * kTileBytes;
                    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + 64 * r + 32 * half), terms[t]);
                }
            }
        }
    }
}

template <typename V>
size_t scratch_bytes(int64_t n) {
    return static_cast<size_t>(steps(n)) * V::kTerms * kTileBytes;
}

// ---- products -------------------------------------------------------------------------

// C[r][c] (16 x 16 floats, row r = weight row) into dst[c * ldd + r].
inline void store_transposed(const float (&c)[kRows][kRows], float* dst, size_t ldd) {
    const __m512i columns = simd::lane_offsets(ldd);
    for (int r = 0; r < kRows; ++r) _mm512_i32scatter_ps(dst + r, columns, _mm512_load_ps(c[r]), 4);
}

// The panel times one group, over all steps. F16: the four term products go to four
// accumulator tiles (4..7), so that no product waits for the one before it; BF16: one
// product per step, two accumulators (4, 5) taking even and odd steps. Tile numbers must be
// literals for GCC's intrinsics, hence the spelled-out products.
template <typename V>
void panel_times_group(const unsigned char* panel, int64_t n_steps, const unsigned char* g,
                       float* dst, size_t ldd) {
    _tile_zero(4);
    _tile_zero(5);
    if constexpr (V::kTerms == 2) {
        _tile_zero(6);
        _tile_zero(7);
        for (int64_t s = 0; s < n_steps; ++s) {
            const size_t off = static_cast<size_t>(s) * 2 * kTileBytes;
            _tile_loadd(0, panel + off, 64);
            _tile_loadd(2, g + off, 64);
            _tile_dpbf16ps(4, 0, 2);
            _tile_loadd(3, g + off + kTileBytes, 64);
            _tile_dpbf16ps(5, 0, 3);
            _tile_loadd(1, panel + off + kTileBytes, 64);
            _tile_dpbf16ps(6, 1, 2);
            _tile_dpbf16ps(7, 1, 3);
        }
    } else {
        int64_t s = 0;
        for (; s + 2 <= n_steps; s += 2) {
            const size_t off = static_cast<size_t>(s) * kTileBytes;
            _tile_loadd(0, panel + off, 64);
            _tile_loadd(2, g + off, 64);
            _tile_dpbf16ps(4, 0, 2);
            _tile_loadd(1, panel + off + kTileBytes, 64);
            _tile_loadd(3, g + off + kTileBytes, 64);
            _tile_dpbf16ps(5, 1, 3);
        }
        if (s < n_steps) {
            const size_t off = static_cast<size_t>(s) * kTileBytes;
            _tile_loadd(0, panel + off, 64);
            _tile_loadd(2, g + off, 64);
            _tile_dpbf16ps(4, 0, 2);
        }
    }
    alignas(64) float c[kRows][kRows];
    alignas(64) float part[kRows][kRows];
    _tile_stored(4, c, 64);
    auto add_tile = [&]() {
        for (int r = 0; r < kRows; ++r) {
            _mm512_store_ps(c[r], _mm512_add_ps(_mm512_load_ps(c[r]), _mm512_load_ps(part[r])));
        }
    };
    _tile_stored(5, part, 64);
    add_tile();
    if constexpr (V::kTerms == 2) {
        _tile_stored(6, part, 64);
        add_tile();
        _tile_stored(7, part, 64);
        add_tile();
    }
    store_transposed(c, dst, ldd);
}

template <typename V>
void gemm(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
          size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch) {
    auto* panel = static_cast<unsigned char*>(scratch);
    const auto* g = static_cast<const unsigned char*>(groups);
    configure_tiles();
    for (int64_t r = 0; r < nr; r += kRows) {
        unpack<V>(n, static_cast<const unsigned char*>(w) + static_cast<size_t>(r) * w_stride, w_stride, panel);
        for (int64_t j = 0; j < n_groups; ++j) {
            panel_times_group<V>(panel, steps(n), g + static_cast<size_t>(j) * group_stride,
                                 dst + static_cast<size_t>(j) * kRows * ldd + r, ldd);
        }
    }
    _tile_release();
}

template <typename V>
constexpr GemmKernels gemm_kernels() {
    return {&group_bytes<V>, &scratch_bytes<V>, &pack<V>, &gemm<V>};
}

}  // namespace

const GemmKernels f16_gemm_amx = gemm_kernels<F16Values>();
const GemmKernels bf16_gemm_amx = gemm_kernels<BF16Values>();

}  // namespace llamux::cpu
