// AVX2 products on repacked weights (avx2_packed_products.hpp, vpmaddubsw). Compiled only
// with -mavx2 -mfma -mf16c; called only after detect_isa() found AVX2.
#include "avx2_packed_products.hpp"

namespace llamux::cpu {

const PackedGemvKernels q4_0_packed_avx2 = packed::PackedProducts<packed::Q4_0Rows, Products>::kernels();
const PackedGemvKernels q4_1_packed_avx2 = packed::PackedProducts<packed::Q4_1Rows, Products>::kernels();
const PackedGemvKernels q5_0_packed_avx2 = packed::PackedProducts<packed::Q5_0Rows, Products>::kernels();
const PackedGemvKernels q5_1_packed_avx2 = packed::PackedProducts<packed::Q5_1Rows, Products>::kernels();
const PackedGemvKernels q8_0_packed_avx2 = packed::PackedProducts<packed::Q8_0Rows, Products>::kernels();

}  // namespace llamux::cpu
