// Token generation's gate and up products with the SwiGLU after them and its rounding for
// ffn_down in the same launch (fusion level 6, cuda_program.cpp). A warp owns one element of
// the SwiGLU: it walks the gate row and the up row of that element side by side
// (rows_dot, cuda_mmv_rows.cuh), so both products meet in its registers. The Q8_0
// rounding needs a whole block of 32 elements, which 32 warps of 8 blocks compute: each
// warp takes a ticket on its block of h, and the one that comes last rounds it. Saves the
// SwiGLU launch of every layer, and the SwiGLU's read of gate and up.
#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_launch.cuh"
#include "cuda_mmv_rows.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

// xq/xd (the products' activations) and e.round (ffn_down's) are different buffers
// (launch_mmv_q8_swiglu's contract). kEarly: the early weights (cuda_mmv_rows.cuh).
template <int T, int kUnroll, bool kEarly>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_int8_swiglu_kernel(const MmvGroup g, int64_t n_items, const int8_t* __restrict__ xq,
                           const float* __restrict__ xd, const SwigluEpilogue e, unsigned* tickets) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;  // element of h
    const bool mine = i < g.rows[0];
    const uint8_t* const w[2] = {mine ? static_cast<const uint8_t*>(g.w[0]) + i * g.row_bytes[0] : nullptr,
                                 mine ? static_cast<const uint8_t*>(g.w[1]) + i * g.row_bytes[1] : nullptr};
    typename int8dot::Kind<T>::Loaded ld[2][kUnroll];
    if constexpr (kEarly) {
        if (mine) {
            load_first_weights<T, kUnroll>(w[0], n_items, ld[0]);
            load_first_weights<T, kUnroll>(w[1], n_items, ld[1]);
        }
    }
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    if (!mine) return;  // whole warps only: no barrier below
    float products[2];  // gate, up
    rows_dot<T, kUnroll, 2, kEarly, Int8Launch<T>::kWeightsFirst>(w, n_items, xq, xd, ld, products);
    const float gate = products[0], up = products[1];
    const int lane = static_cast<int>(threadIdx.x);
    const int64_t block = i / 32;
    unsigned order = 0;
    if (lane == 0) {
        g.y[0][i] = gate;  // the matmuls' own outputs
        g.y[1][i] = up;
        e.h[i] = swiglu_value(gate, up);
        __threadfence();  // h[i] is visible to the warp that rounds its block before the ticket
        order = atomicAdd(tickets + block, 1u);
    }
    if (__shfl_sync(0xffffffffu, order, 0) != 31) return;
    __threadfence();
    const float v[1] = {__ldcg(e.h + 32 * block + lane)};  // written by other warps: past L1
    round_block_warp<32, ActOut::Q8>(v, lane, 32 * block + lane, block, e.round.q, e.round.scales);
    if (lane == 0) tickets[block] = 0;  // for the next launch (kernels on a stream do not overlap)
}

template <int T>
void launch_typed(const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd, const SwigluEpilogue& e,
                  unsigned* tickets, cudaStream_t stream) {
    constexpr int kUnroll = Int8Launch<T>::kPairUnroll;
    const auto kernel = early_weights<T>() ? mmv_int8_swiglu_kernel<T, kUnroll, true>
                                           : mmv_int8_swiglu_kernel<T, kUnroll, false>;
    launch(kernel, grid_for(group.rows[0], kRowsPerBlock, INT32_MAX), dim3(32, kRowsPerBlock), 0, stream, group,
           K / int8dot::Kind<T>::kItemElems, xq, xd, e, tickets);
}

}  // namespace

bool mmv_q8_swiglu_supports(int32_t stored_dtype) {
    return blocks_type(stored_dtype) == LMX_TYPE_Q4_0 || blocks_type(stored_dtype) == LMX_TYPE_Q8_0;
}

void launch_mmv_q8_swiglu(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq,
                          const float* xd, const SwigluEpilogue& epilogue, unsigned* tickets, cudaStream_t stream) {
    switch (stored_dtype) {
        case LMX_TYPE_Q4_0: return launch_typed<LMX_TYPE_Q4_0>(group, K, xq, xd, epilogue, tickets, stream);
        case LMX_TYPE_Q8_0: return launch_typed<LMX_TYPE_Q8_0>(group, K, xq, xd, epilogue, tickets, stream);
        case kStoredQ4_0Split: return launch_typed<kStoredQ4_0Split>(group, K, xq, xd, epilogue, tickets, stream);
        case kStoredQ8_0Split: return launch_typed<kStoredQ8_0Split>(group, K, xq, xd, epilogue, tickets, stream);
        default: return;  // refused by fuse_swiglu_epilogues (mmv_q8_swiglu_supports)
    }
}

}  // namespace llamux::cuda
