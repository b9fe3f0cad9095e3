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

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };  // Avx512: F, BW, VL, VNNI
// What this CPU (and OS: XCR0 state) supports, capped by LLAMUX_CPU_ISA=scalar|avx2|avx512
// when set; probed once and cached.
Isa detect_isa();
const char* isa_name(Isa isa);   // "scalar", "avx2", "avx512"

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

struct TypeKernels {
    DType weight;
    DType activation;  // vec_dot_type(weight)
    VecDotFn vec_dot;
    FromFloatFn from_float;  // nullptr when the activation type is F32 (use x as is)
    TileFn tile;
    Isa isa;                 // the set these kernels use
};

// Best kernels for a weight type on `isa` (at most what detect_isa() found).
// nullptr for a weight type with no dot product (I32, Q8_K, ...).
const TypeKernels* kernels_for(DType weight, Isa isa);

}  // namespace llamux::cpu
