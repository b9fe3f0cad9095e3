// Activations rounded as the reference rounds them before a quantized matmul: each column of
// x is stored as the weight's vec_dot_type (graph/src/ops_ref_matmul.cpp), Q8_0 for the
// legacy types and Q8_K for the K-quants, with the reference's formulas:
//   Q8_0 (blocks of 32): amax = max |x|, id = 127 / amax, q = round-half-even(x * id),
//        d = f16(amax / 127)  (llama.cpp's x86 quantize_row_q8_0);
//   Q8_K (blocks of 256): max = the signed value of largest magnitude (first such index),
//        iscale = -127 / max, q = min(127, round-half-even(iscale * x)), d = 1 / iscale.
// The GPU kernels then multiply d * q where the reference multiplies its blocks, so the only
// difference left is the order of the float sums. One warp per block.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

// Block `blk` of column m: kBlock elements, kBlock / 32 per lane (lane l holds elements
// l * kPer .. l * kPer + kPer - 1, so "first index" order is lane order, then position).
template <int kBlock, ActOut kOut>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
    round_kernel(const char* __restrict__ x, size_t x_row_bytes, int64_t K, int64_t n_blocks_total,
                 void* __restrict__ out, float* __restrict__ scales) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    constexpr int kPer = kBlock / 32;
    const int lane = threadIdx.x & 31;
    const int64_t blocks_per_col = K / kBlock;
    for (int64_t g = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5); g < n_blocks_total;
         g += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
        const int64_t m = g / blocks_per_col, blk = g % blocks_per_col;
        const float* xb = reinterpret_cast<const float*>(x + m * x_row_bytes) + blk * kBlock + lane * kPer;
        float v[kPer];
#pragma unroll
        for (int i = 0; i < kPer; ++i) v[i] = xb[i];
        round_block_warp<kBlock, kOut>(v, lane, m * K + blk * kBlock + lane * kPer, g, out, scales);
    }
}

template <int kBlock>
void launch_block(ActOut kind, const char* x, size_t x_row_bytes, int64_t K, int64_t M, void* out,
                  float* scales, cudaStream_t stream) {
    const int64_t n = K / kBlock * M;
    const unsigned grid = grid_for(n, kWarpsPerBlock, 65535);
    const dim3 block(32 * kWarpsPerBlock);
    switch (kind) {
        case ActOut::F16: launch(round_kernel<kBlock, ActOut::F16>, grid, block, 0, stream, x, x_row_bytes, K, n, out, scales); return;
        case ActOut::F32: launch(round_kernel<kBlock, ActOut::F32>, grid, block, 0, stream, x, x_row_bytes, K, n, out, scales); return;
        case ActOut::Q8: launch(round_kernel<kBlock, ActOut::Q8>, grid, block, 0, stream, x, x_row_bytes, K, n, out, scales); return;
    }
}

}  // namespace

void launch_round_activations(int32_t vec_dot_type, ActOut kind, const float* x, size_t x_row_bytes,
                              int64_t K, int64_t M, void* out, float* scales, cudaStream_t stream) {
    const auto* xc = reinterpret_cast<const char*>(x);
    if (vec_dot_type == LMX_TYPE_Q8_K) {
        launch_block<256>(kind, xc, x_row_bytes, K, M, out, scales, stream);
    } else {
        launch_block<32>(kind, xc, x_row_bytes, K, M, out, scales, stream);
    }
}

}  // namespace llamux::cuda
