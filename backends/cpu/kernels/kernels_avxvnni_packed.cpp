// AVX-VNNI products on repacked weights: avx2_packed_products.hpp compiled with -mavxvnni
// too, so that each step of a block is one vpdpbusd. Called only after detect_isa() found the
// AvxVnni level.
#include "avx2_packed_products.hpp"

#if !defined(__AVXVNNI__)
#error "kernels_avxvnni_packed.cpp must be compiled with -mavxvnni"
#endif

namespace llamux::cpu {

const PackedGemvKernels q4_0_packed_avxvnni = packed::PackedProducts<packed::Q4_0Rows, Products>::kernels();
const PackedGemvKernels q4_1_packed_avxvnni = packed::PackedProducts<packed::Q4_1Rows, Products>::kernels();
const PackedGemvKernels q5_0_packed_avxvnni = packed::PackedProducts<packed::Q5_0Rows, Products>::kernels();
const PackedGemvKernels q5_1_packed_avxvnni = packed::PackedProducts<packed::Q5_1Rows, Products>::kernels();
const PackedGemvKernels q8_0_packed_avxvnni = packed::PackedProducts<packed::Q8_0Rows, Products>::kernels();

}  // namespace llamux::cpu
