// The CPU plugin's compute kernels for the dot products that dominate inference, chosen at
// run time for the instruction sets this CPU has. Every kernel has a scalar twin in graph/
// (quant_ref.hpp) and is tested against it (tests/unit/test_cpu_kernels.cpp).
//
// Code for one instruction set lives in files compiled only with that set's flags, and is
// only called after detect_isa() found the set, so probing never executes an illegal
// instruction on an older CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llamux/dtype.hpp"

namespace llamux::cpu {

// Avx2: AVX2, FMA, F16C. AvxVnni: Avx2 plus AVX-VNNI (vpdpbusd on 256-bit vectors: Intel
// Alder Lake and later client cores, AMD Zen 5). Avx512: F, BW, VL, VNNI. Amx: Avx512 plus
// AMX-TILE, AMX-INT8 and AMX-BF16, with the tile state granted to this process by the OS
// (Linux: arch_prctl ARCH_REQ_XCOMP_PERM).
// The levels are ordered, but AvxVnni is a side branch: some AVX-512 CPUs lack AVX-VNNI
// (Skylake-X, Ice Lake), so the Avx512 and Amx tables build on Avx2's, and only kernels_for
// asked for AvxVnni itself hands out its kernels (or Avx2's where the CPU lacks AVX-VNNI).
enum class Isa : int { Scalar = 0, Avx2 = 1, AvxVnni = 2, Avx512 = 3, Amx = 4 };
// What this CPU (and OS: XCR0 state) supports: the highest level, or AvxVnni on a CPU with
// AVX-VNNI and without the Avx512 level. Capped by LLAMUX_CPU_ISA=scalar|avx2|avxvnni|avx512|amx
// when set (a cap of avxvnni on a CPU without AVX-VNNI gives Avx2); probed once and cached.
Isa detect_isa();
const char* isa_name(Isa isa);   // "scalar", "avx2", "avxvnni", "avx512", "amx"

// Who made this CPU (CPUID leaf 0), for tuning choices that differ between vendors' cores.
enum class CpuVendor : int { Intel, Amd, Other };
CpuVendor detect_vendor();

// AVX512_BF16 (vdpbf16ps) on a CPU whose detect_isa() is at least the AVX-512 level: an
// extension some AVX-512 CPUs have (AMD Zen 4 and later; Intel Cooper Lake, Sapphire Rapids
// and later, not Ice Lake).
bool has_avx512_bf16();

// dot(weight row of n elements of the weight type, activation row in vec_dot_type)
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// Converts a row of n floats to the activation type (vec_dot_type of the weight type),
// byte for byte as quantize_activation_row_ref (quant_ref.hpp) does.
using FromFloatFn = void (*)(const float* x, void* dst, int64_t n);
// A small tile of a matrix product: for r < nr, c < nc
//   dst[c * ldd + r] = dot(w + r * w_stride bytes, a + c * a_stride bytes)
// nr, nc <= kTileMax. Weight blocks are loaded once and reused across the nc columns.
// Results equal vec_dot's up to float summation order. Prompt processing: kTileMax x
// kTileMax tiles are 1.5-2.5x faster per multiply-add than vec_dot. One activation column:
// use vec_dot (a kTileMax x 1 tile measured from 25% slower to 10% faster, by type).
using TileFn = void (*)(int64_t n, const void* w, size_t w_stride, const void* a,
                        size_t a_stride, float* dst, size_t ldd, int nr, int nc);
constexpr int kTileMax = 4;

// Prompt processing in blocks (AMX tiles; on AVX2, column-interleaved vectors):
// products of kGemmBlock weight rows with kGemmBlock activation columns at a time. The
// converted activation columns (from_float) are first packed, kGemmBlock at a time, into the
// kernel's layout ("groups"); gemm then unpacks each kGemmBlock weight rows once into
// per-thread scratch and multiplies them with every group.
// Results equal vec_dot's up to float summation order. n must be a whole number of the
// weight type's blocks (as for every kernel here).
constexpr int kGemmBlock = 16;
struct GemmKernels {
    // Bytes of one packed group of kGemmBlock columns of n elements.
    size_t (*group_bytes)(int64_t n);
    // Bytes of the per-thread scratch gemm needs for rows of n elements.
    size_t (*scratch_bytes)(int64_t n);
    // Packs converted columns a, a + a_stride bytes, ... (kGemmBlock of them) into `group`;
    // nullptr for a kernel that reads the converted columns in place.
    void (*pack)(int64_t n, const void* a, size_t a_stride, void* group);
    // For r < nr (a multiple of kGemmBlock) and the n_groups * kGemmBlock columns of the
    // groups (group_stride bytes apart): dst[c * ldd + r] = dot(w + r * w_stride bytes,
    // column c). scratch: scratch_bytes(n), private to the calling thread.
    void (*gemm)(int64_t n, const void* w, size_t w_stride, int64_t nr, const void* groups,
                 size_t group_stride, int64_t n_groups, float* dst, size_t ldd, void* scratch);
    // Packed column bytes one gemm call takes at most (the driver splits the columns into
    // calls of about that much); 0: the driver's default, sized for L2. Each call unpacks its
    // weight rows again, so a kernel whose unpacking costs more than re-reading columns from
    // further out (f32 groups: 4 bytes per value) asks for more.
    size_t max_call_group_bytes = 0;
};

// Generation on repacked weights: kPackedRows rows interleaved block by block, so one vector
// holds the same elements of kPackedRows rows and a GEMV needs no horizontal sums and few
// instructions per byte (generation streams every weight once per token, and this CPU's
// per-core bandwidth depends on how far ahead the core can run). The backend repacks a
// weight once (when it first compiles a matmul reading it; cpu_weights.cpp) into w.extra
// and releases the original's pages: every matmul path then reads the repacked rows (gemv,
// columns, and a packed gemm if any).
constexpr int kPackedRows = 16;
struct PackedGemvKernels {
    // Bytes of the repacked form of `rows` rows (a multiple of kPackedRows) of n elements.
    size_t (*bytes)(int64_t n, int64_t rows);
    // Repacks rows w, w + w_stride bytes, ... into out (bytes(n, rows), 64-byte aligned).
    void (*repack)(int64_t n, const void* w, size_t w_stride, int64_t rows, void* out);
    // y[r] = dot(row r, a) for r in [kPackedRows * g0, kPackedRows * g1); a is one converted
    // activation column. Equal to vec_dot's up to float summation order.
    void (*gemv)(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a, float* y);
    // The same for nc columns a, a + a_stride bytes, ...: y[c * ldy + r]. For batches that
    // no matrix unit takes (few columns, edges), so the original rows are never read.
    void (*columns)(int64_t n, const void* packed, int64_t g0, int64_t g1, const void* a,
                    size_t a_stride, int64_t nc, float* y, size_t ldy);
};

struct TypeKernels {
    DType weight;
    DType activation;  // vec_dot_type(weight)
    VecDotFn vec_dot;
    FromFloatFn from_float;  // nullptr when the activation type is F32 (use x as is)
    TileFn tile;
    Isa isa;                 // the set vec_dot and tile use
    const GemmKernels* gemm; // nullptr where this CPU has no block kernel for the type
    const PackedGemvKernels* packed_gemv;  // nullptr where the type is not repacked
    // Matrix-unit product on the repacked rows (w: packed_gemv's data of the first row,
    // w_stride unused; no pack step: `groups` are the converted columns, group_stride
    // kGemmBlock column strides). nullptr where there is none.
    const GemmKernels* packed_gemm;
};

// Best kernels for a weight type on `isa` (at most what detect_isa() found).
// nullptr for a weight type with no dot product (I32, Q8_K, ...).
const TypeKernels* kernels_for(DType weight, Isa isa);

// out[i] += p * x[i] for the n values x of a row of a 32-value block type (Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0; n whole blocks): the weighted sum of the V rows of a quantized KV cache, which
// reads each row dequantized. Equal to the scalar twin (dequantize_row_ref, then one
// multiply and add per value) up to the rounding of the multiply-add.
using BlockAxpyFn = void (*)(int64_t n, float p, const void* x, float* out);
// The kernel for `type` on `isa` (at most what detect_isa() found); nullptr for other types.
BlockAxpyFn block_axpy_for(DType type, Isa isa);

}  // namespace llamux::cpu
