// Internal to backends/cpu/kernels: the per-instruction-set kernels that kernels_dispatch.cpp
// puts into its tables. Each is defined in a file compiled only with its set's flags
// (kernels_avx2_*.cpp, kernels_avx512*.cpp) and must only be called after detect_isa()
// found that set. Taking their address is safe on any CPU; calling them is not.
//
// Signatures are those of kernels.hpp (VecDotFn, FromFloatFn, TileFn, BlockAxpyFn); n counts
// elements.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels.hpp"

namespace llamux::cpu {

#define LLAMUX_DECLARE_DOT(name) float name(int64_t n, const void* w, const void* a)
#define LLAMUX_DECLARE_TILE(name)                                                       \
    void name(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride, \
              float* dst, size_t ldd, int nr, int nc)
#define LLAMUX_DECLARE_FROM_FLOAT(name) void name(const float* x, void* dst, int64_t n)

// ---- AVX2 + FMA + F16C: legacy 32-element blocks x Q8_0 (kernels_avx2_legacy.cpp) ----
LLAMUX_DECLARE_DOT(q4_0_dot_avx2);
LLAMUX_DECLARE_DOT(q4_1_dot_avx2);
LLAMUX_DECLARE_DOT(q5_0_dot_avx2);
LLAMUX_DECLARE_DOT(q5_1_dot_avx2);
LLAMUX_DECLARE_DOT(q8_0_dot_avx2);
LLAMUX_DECLARE_TILE(q4_0_tile_avx2);
LLAMUX_DECLARE_TILE(q4_1_tile_avx2);
LLAMUX_DECLARE_TILE(q5_0_tile_avx2);
LLAMUX_DECLARE_TILE(q5_1_tile_avx2);
LLAMUX_DECLARE_TILE(q8_0_tile_avx2);
LLAMUX_DECLARE_FROM_FLOAT(q8_0_from_float_avx2);
#define LLAMUX_DECLARE_BLOCK_AXPY(name) void name(int64_t n, float p, const void* x, float* out)
LLAMUX_DECLARE_BLOCK_AXPY(q4_0_axpy_avx2);
LLAMUX_DECLARE_BLOCK_AXPY(q4_1_axpy_avx2);
LLAMUX_DECLARE_BLOCK_AXPY(q5_0_axpy_avx2);
LLAMUX_DECLARE_BLOCK_AXPY(q5_1_axpy_avx2);
LLAMUX_DECLARE_BLOCK_AXPY(q8_0_axpy_avx2);

// ---- AVX2: K-quants x Q8_K (kernels_avx2_kquants.cpp) ----
LLAMUX_DECLARE_DOT(q2_k_dot_avx2);
LLAMUX_DECLARE_DOT(q3_k_dot_avx2);
LLAMUX_DECLARE_DOT(q4_k_dot_avx2);
LLAMUX_DECLARE_DOT(q5_k_dot_avx2);
LLAMUX_DECLARE_DOT(q6_k_dot_avx2);
LLAMUX_DECLARE_TILE(q2_k_tile_avx2);
LLAMUX_DECLARE_TILE(q3_k_tile_avx2);
LLAMUX_DECLARE_TILE(q4_k_tile_avx2);
LLAMUX_DECLARE_TILE(q5_k_tile_avx2);
LLAMUX_DECLARE_TILE(q6_k_tile_avx2);
LLAMUX_DECLARE_FROM_FLOAT(q8_k_from_float_avx2);

// ---- AVX2: plain floats (kernels_avx2_float.cpp) ----
LLAMUX_DECLARE_DOT(f32_dot_avx2);
LLAMUX_DECLARE_DOT(f16_dot_avx2);
LLAMUX_DECLARE_DOT(bf16_dot_avx2);
LLAMUX_DECLARE_TILE(f32_tile_avx2);
LLAMUX_DECLARE_TILE(f16_tile_avx2);
LLAMUX_DECLARE_TILE(bf16_tile_avx2);
LLAMUX_DECLARE_FROM_FLOAT(f16_from_float_avx2);
LLAMUX_DECLARE_FROM_FLOAT(bf16_from_float_avx2);

// ---- AVX-512 F/BW/VL/VNNI: quants (kernels_avx512_legacy.cpp, kernels_avx512_kquants.cpp) ----
LLAMUX_DECLARE_DOT(q4_0_dot_avx512);
LLAMUX_DECLARE_DOT(q4_1_dot_avx512);
LLAMUX_DECLARE_DOT(q5_0_dot_avx512);
LLAMUX_DECLARE_DOT(q5_1_dot_avx512);
LLAMUX_DECLARE_DOT(q8_0_dot_avx512);
LLAMUX_DECLARE_TILE(q4_0_tile_avx512);
LLAMUX_DECLARE_TILE(q4_1_tile_avx512);
LLAMUX_DECLARE_TILE(q5_0_tile_avx512);
LLAMUX_DECLARE_TILE(q5_1_tile_avx512);
LLAMUX_DECLARE_TILE(q8_0_tile_avx512);
LLAMUX_DECLARE_DOT(q2_k_dot_avx512);
LLAMUX_DECLARE_DOT(q3_k_dot_avx512);
LLAMUX_DECLARE_DOT(q4_k_dot_avx512);
LLAMUX_DECLARE_DOT(q5_k_dot_avx512);
LLAMUX_DECLARE_DOT(q6_k_dot_avx512);
LLAMUX_DECLARE_TILE(q2_k_tile_avx512);
LLAMUX_DECLARE_TILE(q3_k_tile_avx512);
LLAMUX_DECLARE_TILE(q4_k_tile_avx512);
LLAMUX_DECLARE_TILE(q5_k_tile_avx512);
LLAMUX_DECLARE_TILE(q6_k_tile_avx512);

// ---- AVX-512: plain floats (kernels_avx512_float.cpp) ----
LLAMUX_DECLARE_DOT(f32_dot_avx512);
LLAMUX_DECLARE_DOT(f16_dot_avx512);
LLAMUX_DECLARE_DOT(bf16_dot_avx512);
LLAMUX_DECLARE_TILE(f32_tile_avx512);
LLAMUX_DECLARE_TILE(f16_tile_avx512);
LLAMUX_DECLARE_TILE(bf16_tile_avx512);

// ---- AVX2: generation on repacked Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (kernels_avx2_packed.cpp) ----
extern const PackedGemvKernels q4_0_packed_avx2;
extern const PackedGemvKernels q4_1_packed_avx2;
extern const PackedGemvKernels q5_0_packed_avx2;
extern const PackedGemvKernels q5_1_packed_avx2;
extern const PackedGemvKernels q8_0_packed_avx2;
// The same products with AVX-VNNI (kernels_avxvnni_packed.cpp).
extern const PackedGemvKernels q4_0_packed_avxvnni;
extern const PackedGemvKernels q4_1_packed_avxvnni;
extern const PackedGemvKernels q5_0_packed_avxvnni;
extern const PackedGemvKernels q5_1_packed_avxvnni;
extern const PackedGemvKernels q8_0_packed_avxvnni;

// ---- AVX-512: generation on repacked Q4_0, Q4_1, Q8_0, Q5_0 and Q5_1 (kernels_avx512_packed.cpp) ----
extern const PackedGemvKernels q4_0_packed_avx512;
extern const PackedGemvKernels q4_1_packed_avx512;
extern const PackedGemvKernels q8_0_packed_avx512;
extern const PackedGemvKernels q5_0_packed_avx512;
extern const PackedGemvKernels q5_1_packed_avx512;
// Bytes of one block of one kPackedRows-row group in those layouts: 4 chunks of 64 nibble
// bytes (Q4_0, Q4_1, Q5_0 and Q5_1, these two with 64 bytes of fifth bits after them) or 8
// chunks of 64 quant bytes (Q8_0), then the rows' f16 scales (and f16 mins of the types
// with a min; packed_rows.hpp describes them).
constexpr size_t kPackedQ4_0BlockBytes = 4 * 64 + kPackedRows * 2;
constexpr size_t kPackedQ4_1BlockBytes = 4 * 64 + kPackedRows * 4;
constexpr size_t kPackedQ8_0BlockBytes = 8 * 64 + kPackedRows * 2;
// Q5_0 and Q5_1: Q4_0's and Q4_1's blocks with 4 bytes of fifth bits per row after the nibbles.
constexpr size_t kPackedQ5_0BlockBytes = 4 * 64 + kPackedRows * 4 + kPackedRows * 2;
constexpr size_t kPackedQ5_1BlockBytes = 4 * 64 + kPackedRows * 4 + kPackedRows * 4;

// ---- AVX-512: F16 and BF16 prompt products on widened operands (kernels_avx512_float_gemm.cpp) ----
extern const GemmKernels f16_gemm_avx512;
extern const GemmKernels bf16_gemm_avx512;
// (kernels_avx512bf16_gemm.cpp: BF16 weights with vdpbf16ps, where has_avx512_bf16())
extern const GemmKernels bf16_dot_gemm_avx512;

// ---- AVX2: Q4_0, Q4_K, Q5_K and Q6_K prompt products on column-interleaved activations (kernels_avx2_gemm.cpp) ----
extern const GemmKernels q4_0_gemm_avx2;
extern const GemmKernels q4_k_gemm_avx2;
extern const GemmKernels q5_k_gemm_avx2;
extern const GemmKernels q6_k_gemm_avx2;
// The same products with AVX-VNNI (kernels_avxvnni_gemm.cpp).
extern const GemmKernels q4_0_gemm_avxvnni;
extern const GemmKernels q4_k_gemm_avxvnni;
extern const GemmKernels q5_k_gemm_avxvnni;
extern const GemmKernels q6_k_gemm_avxvnni;
// (kernels_avx2_float_gemm.cpp: F16 and BF16 on operands widened once)
extern const GemmKernels f16_gemm_avx2;
extern const GemmKernels bf16_gemm_avx2;

// ---- AMX tiles: prompt-processing products (kernels_amx.cpp) ----
extern const GemmKernels q4_0_gemm_amx;
extern const GemmKernels q8_0_gemm_amx;
extern const GemmKernels q4_1_gemm_amx;
extern const GemmKernels q5_0_gemm_amx;
extern const GemmKernels q5_1_gemm_amx;
extern const GemmKernels q4_k_gemm_amx;
extern const GemmKernels q5_k_gemm_amx;
extern const GemmKernels q6_k_gemm_amx;
// (kernels_amx_float.cpp: F16 and BF16 weights, AMX-BF16)
extern const GemmKernels f16_gemm_amx;
extern const GemmKernels bf16_gemm_amx;
extern const GemmKernels q4_0_packed_gemm_amx;  // on Q4_0 repacked as q4_0_packed_avx512
extern const GemmKernels q4_1_packed_gemm_amx;  // on Q4_1 repacked as q4_1_packed_avx512
extern const GemmKernels q8_0_packed_gemm_amx;  // on Q8_0 repacked as q8_0_packed_avx512

#undef LLAMUX_DECLARE_DOT
#undef LLAMUX_DECLARE_TILE
#undef LLAMUX_DECLARE_FROM_FLOAT

}  // namespace llamux::cpu
