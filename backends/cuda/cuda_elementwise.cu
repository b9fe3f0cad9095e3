// The f32 binary ops of one shape: add (dst = a + b) and SwiGLU (dst = silu(a) * b,
// silu(g) = g / (1 + e^-g), with the accurate expf as the reference's std::exp).
// Rows may have any strides; elements within a row are contiguous.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kElemsPerThread = 8;

struct AddOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct SwigluOp {
    __device__ float operator()(float g, float u) const { return swiglu_value(g, u); }
};

// kRound: also write y rounded to Q8_0 for the next matmul (n a multiple of 32, so a warp
// always holds one whole 32-element block: cuda_round.cuh).
template <class Op, bool kRound>
__global__ void __launch_bounds__(kThreads)
    binary_kernel(const char* __restrict__ a, RowGeom ga, const char* __restrict__ b, RowGeom gb,
                  char* __restrict__ y, RowGeom gy, int64_t n, int64_t rows, const RoundTarget round) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const Op op;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const auto* ar = reinterpret_cast<const float*>(a + row_offset(ga, r));
        const auto* br = reinterpret_cast<const float*>(b + row_offset(gb, r));
        auto* yr = reinterpret_cast<float*>(y + row_offset(gy, r));
        for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
             i += static_cast<int64_t>(gridDim.x) * kThreads) {
            const float v = op(ar[i], br[i]);
            yr[i] = v;
            if constexpr (kRound) {
                const float block[1] = {v};
                round_block_warp<32, ActOut::Q8>(block, static_cast<int>(threadIdx.x & 31), r * n + i,
                                                 (r * n + i) / 32, round.q, round.scales);
            }
        }
    }
}

// Token generation's SwiGLU before an int8 matmul: one contiguous row, a four-element piece
// per thread (16-byte loads and stores) rounded in place for the matmul, eight lanes to a
// Q8_0 block (cuda_round.cuh). The kernel above finds each row's address with 64-bit
// divisions and rounds a block per warp from one element per lane; this one is what the
// norm's row kernel is to the general norm. Same values.
__global__ void __launch_bounds__(kThreads)
    swiglu_row_kernel(const float* __restrict__ g, const float* __restrict__ u, float* __restrict__ y, int64_t n4,
                      const RoundTarget round) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const SwigluOp op;
    const int64_t f = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (f < n4) {
        const float4 a = reinterpret_cast<const float4*>(g)[f];
        const float4 b = reinterpret_cast<const float4*>(u)[f];
        o = make_float4(op(a.x, b.x), op(a.y, b.y), op(a.z, b.z), op(a.w, b.w));
        reinterpret_cast<float4*>(y)[f] = o;
    }
    round_q8_0_piece(o, f, f < n4, round);  // n is a multiple of 32
}

// Token generation's SwiGLU before a K-quant matmul (vec_dot_type Q8_K: blocks of 256):
// one row, a warp per block, lane l computing elements 8l .. 8l + 7 of it, then the block
// rounded by the warp (cuda_round.cuh), the formulas of the rounding kernel. Saves that
// kernel's launch and its read of the SwiGLU's output.
__global__ void __launch_bounds__(kThreads)
    swiglu_q8_k_kernel(const float* __restrict__ g, const float* __restrict__ u, float* __restrict__ y,
                       int64_t n_blocks, const RoundTarget round) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    constexpr int kPer = 256 / 32;
    const int64_t block = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + threadIdx.x / 32;
    if (block >= n_blocks) return;  // whole warps
    const int lane = static_cast<int>(threadIdx.x % 32);
    const int64_t e0 = block * 256 + lane * kPer;
    const SwigluOp op;
    float v[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
        v[i] = op(g[e0 + i], u[e0 + i]);
        y[e0 + i] = v[i];
    }
    round_block_warp<256, ActOut::Q8>(v, lane, e0, block, round.q, round.scales);
}

// One row of n (a multiple of 32) contiguous floats in each tensor, 16-byte aligned.
bool swiglu_row_fits(const lmx_node& node) {
    const auto row = [](const lmx_tensor& t) {
        return n_rows(t) == 1 && t.nb[0] == sizeof(float) && reinterpret_cast<uintptr_t>(t.data) % 16 == 0;
    };
    return node.dst->ne[0] % 32 == 0 && row(*node.src[0]) && row(*node.src[1]) && row(*node.dst);
}

template <class Op>
void launch_binary(const lmx_node& node, const RoundTarget& round, cudaStream_t stream) {
    const lmx_tensor& a = *node.src[0];
    const lmx_tensor& b = *node.src[1];
    const lmx_tensor& y = *node.dst;
    const int64_t n = y.ne[0], rows = n_rows(y);
    // Several elements per thread: the row's address (three 64-bit divisions) is worked out
    // once per row by every thread, which costs more than one element's arithmetic.
    // With rounding (token generation: one row) one element per thread, so that the
    // rounding's warp reductions spread over as many SMs as possible.
    const int64_t per_block = round.vec_dot_type == LMX_TYPE_Q8_0 ? kThreads : kThreads * kElemsPerThread;
    const dim3 grid(grid_for(n, per_block, 1024), grid_for(rows, 1, 65535));
    const auto* ad = static_cast<const char*>(a.data);
    const auto* bd = static_cast<const char*>(b.data);
    auto* yd = static_cast<char*>(y.data);
    if (round.vec_dot_type == LMX_TYPE_Q8_0) {
        launch(binary_kernel<Op, true>, grid, kThreads, 0, stream, ad, row_geom(a), bd, row_geom(b), yd, row_geom(y),
               n, rows, round);
    } else {
        launch(binary_kernel<Op, false>, grid, kThreads, 0, stream, ad, row_geom(a), bd, row_geom(b), yd, row_geom(y),
               n, rows, round);
    }
}

}  // namespace

void launch_add(const lmx_node& node, cudaStream_t stream) { launch_binary<AddOp>(node, RoundTarget{}, stream); }
void launch_swiglu(const lmx_node& node, const RoundTarget& round, cudaStream_t stream) {
    if (round.vec_dot_type == LMX_TYPE_Q8_K) {  // one row of a multiple of 256 (fuse_nodes)
        const int64_t n_blocks = node.dst->ne[0] / 256;
        launch(swiglu_q8_k_kernel, grid_for(n_blocks, kThreads / 32, INT32_MAX), kThreads, 0, stream,
               static_cast<const float*>(node.src[0]->data), static_cast<const float*>(node.src[1]->data),
               static_cast<float*>(node.dst->data), n_blocks, round);
        return;
    }
    if (round.vec_dot_type == LMX_TYPE_Q8_0 && swiglu_row_fits(node)) {
        const int64_t n4 = node.dst->ne[0] / 4;
        launch(swiglu_row_kernel, grid_for(n4, kThreads, INT32_MAX), kThreads, 0, stream,
               static_cast<const float*>(node.src[0]->data), static_cast<const float*>(node.src[1]->data),
               static_cast<float*>(node.dst->data), n4, round);
        return;
    }
    launch_binary<SwigluOp>(node, round, stream);
}

}  // namespace llamux::cuda
