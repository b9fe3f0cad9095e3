// AVX2 prompt products for Q4_0, Q4_K, Q5_K and Q6_K (avx2_gemm_products.hpp, vpmaddubsw).
// Compiled only with -mavx2 -mfma -mf16c; called only after detect_isa() found AVX2.
#include "avx2_gemm_products.hpp"

namespace llamux::cpu {

const GemmKernels q4_0_gemm_avx2 = Blocked<Q4_0Block>::kernels();
const GemmKernels q4_k_gemm_avx2 = Blocked<K4Block<false>>::kernels();
const GemmKernels q5_k_gemm_avx2 = Blocked<K4Block<true>>::kernels();
const GemmKernels q6_k_gemm_avx2 = Blocked<Q6_KBlock>::kernels();

}  // namespace llamux::cpu
