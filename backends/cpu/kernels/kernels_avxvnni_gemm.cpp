// AVX-VNNI prompt products for Q4_0, Q4_K, Q5_K and Q6_K: avx2_gemm_products.hpp compiled
// with -mavxvnni too (one vpdpbusd per 4-element step). Called only after detect_isa() found
// the AvxVnni level.
#include "avx2_gemm_products.hpp"

#if !defined(__AVXVNNI__)
#error "kernels_avxvnni_gemm.cpp must be compiled with -mavxvnni"
#endif

namespace llamux::cpu {

const GemmKernels q4_0_gemm_avxvnni = Blocked<Q4_0Block>::kernels();
const GemmKernels q4_k_gemm_avxvnni = Blocked<K4Block<false>>::kernels();
const GemmKernels q5_k_gemm_avxvnni = Blocked<K4Block<true>>::kernels();
const GemmKernels q6_k_gemm_avxvnni = Blocked<Q6_KBlock>::kernels();

}  // namespace llamux::cpu
