// Random quantized rows and the error bound of a dot-product kernel against its scalar twin,
// shared by the kernel tests of the CPU plugin and of the CUDA plugin's int8 arithmetic.
//
// Error bound. Integer sums are exact in every kernel, so a kernel differs from its twin only
// in the order (and fusing) of float operations: the scale products and the running sum.
// With S = sum_i |w_i| |a_i| over the dequantized rows (plus the |min| terms of the types
// that have one), reordering a sum of N float terms moves it by at most about 2 N u S
// (u = 2^-24) in the worst case, and by about sqrt(N) u S in practice. Kernels must meet
//   |fast - ref| <= kRelBound * S,  kRelBound = 2e-6,
// where the worst seen on random rows of 4096 is 1.2e-7 (F32, F16) and 2.5e-8 (quant types):
// loose enough for any summation order, tight enough that one wrong quant or scale (which
// moves the result by a sizeable fraction of S) fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "llamux/dtype.hpp"

namespace llamux::test {

constexpr double kRelBound = 2e-6;

// A random row with a varied magnitude per 32 elements, so scales differ block to block.
std::vector<float> random_row(std::mt19937& rng, int64_t n);

// Bytes of a row of type t holding x, starting `misalign` units of the type's natural
// alignment (4 bytes for F32 and Q8_K, 2 for the rest) past a 16-byte boundary, so kernels
// see rows that are not 16- or 32-byte aligned, as inside a real tensor of 18-byte blocks
// (while the scalar fields stay naturally aligned). 16 zero bytes follow the row, as the
// padding of a device allocation.
struct Row {
    std::vector<uint8_t> storage;
    size_t offset = 0;
    const void* data() const { return storage.data() + offset; }
};

// Weights through quantize_row_ref; activations (act = true) as the reference matmul makes
// them (quantize_activation_row_ref).
Row make_row(DType t, const std::vector<float>& x, size_t misalign, bool act = false);

// S of the bound for a weight row w (type t) and an activation row a (type at), n elements.
double magnitude(DType t, const void* w, DType at, const void* a, int64_t n);

}  // namespace llamux::test
