// RMSNorm: dst[n, rows] = (x * (1 / sqrt(mean(x^2) + eps))) * w[n]. One block per row; the
// sum of squares in f32 (the reference sums in double: the difference is far below 1e-6
// relative for rows of a few thousand elements).
//
// Two fusions (chosen by cuda_program.cpp; each saves a launch per use, ~4 per layer in
// token generation): x may be the sum a + b of the add node before the norm, which the
// kernel then also writes out (the residual stream), and the normalised row may also be
// written rounded for the matmul after the norm (cuda_round.cuh), sparing it the rounding.
// Either way every value equals what the separate kernels would produce.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

// Threads per row. Token generation normalises one row, so one block does all the work:
// 1024 threads (32 warps, also sharing the rounding's blocks) measured faster than 256
// (H200, 7B shape: tg128 344 t/s with 256-thread add + norm fused, 378 unfused, 390 with
// the rounding fused at 1024 threads).
constexpr int kThreads = 1024;

// The add before the norm: x = a + b, written to s (all with their own row geometry).
struct FusedAdd {
    const char* a = nullptr;
    RowGeom ga;
    const char* b = nullptr;
    RowGeom gb;
    char* s = nullptr;
    RowGeom gs;
};

// kRound: 0, or the block size of the rounding for the next matmul (32: Q8_0, 256: Q8_K).
template <bool kAdd, int kRound>
__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(const char* __restrict__ x, RowGeom gx, const FusedAdd add, const float* __restrict__ w,
                    char* __restrict__ y, RowGeom gy, int64_t n, int64_t rows, float eps, const RoundTarget round) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    __shared__ float scratch[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = nullptr;
        const float *ar = nullptr, *br = nullptr;
        if constexpr (kAdd) {
            ar = reinterpret_cast<const float*>(add.a + row_offset(add.ga, r));
            br = reinterpret_cast<const float*>(add.b + row_offset(add.gb, r));
        } else {
            xr = reinterpret_cast<const float*>(x + row_offset(gx, r));
        }
        auto* yr = reinterpret_cast<float*>(y + row_offset(gy, r));
        float* sr = kAdd ? reinterpret_cast<float*>(add.s + row_offset(add.gs, r)) : nullptr;
        float sum = 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += kThreads) {
            float v;
            if constexpr (kAdd) {
                v = ar[i] + br[i];
                sr[i] = v;  // the add's dst may be one of its inputs (x += ...): read back below
            } else {
                v = xr[i];
            }
            sum += v * v;
        }
        sum = block_sum(sum, scratch);  // its barriers also publish sr to the whole block
        const float* xs = kAdd ? sr : xr;  // the row to normalise
        const auto xv = [&](int64_t i) { return xs[i]; };
        const float mean = sum / static_cast<float>(n);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = (xv(i) * scale) * w[i];
        if constexpr (kRound > 0) {
            // Each warp rounds whole blocks, recomputing the values it just wrote.
            constexpr int kPer = kRound / 32;
            const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
            for (int64_t blk = warp; blk < n / kRound; blk += kThreads / 32) {
                float v[kPer];
#pragma unroll
                for (int i = 0; i < kPer; ++i) {
                    const int64_t e = blk * kRound + lane * kPer + i;
                    v[i] = (xv(e) * scale) * w[e];
                }
                round_block_warp<kRound, ActOut::Q8>(v, lane, r * n + blk * kRound + lane * kPer,
                                                     r * (n / kRound) + blk, round.q, round.scales);
            }
        }
    }
}

template <bool kAdd>
void launch_rounding(const lmx_node& node, const FusedAdd& add, const RoundTarget& round, cudaStream_t stream) {
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    const int64_t rows = n_rows(x);
    const auto* xd = static_cast<const char*>(x.data);
    const auto* wd = static_cast<const float*>(node.src[1]->data);
    auto* yd = static_cast<char*>(dst.data);
    const unsigned grid = grid_for(rows, 1, INT32_MAX);
    switch (round.vec_dot_type) {
        case LMX_TYPE_Q8_0:
            launch(rms_norm_kernel<kAdd, 32>, grid, kThreads, 0, stream, xd, row_geom(x), add, wd, yd, row_geom(dst),
                   x.ne[0], rows, node.fparams[0], round);
            return;
        case LMX_TYPE_Q8_K:
            launch(rms_norm_kernel<kAdd, 256>, grid, kThreads, 0, stream, xd, row_geom(x), add, wd, yd, row_geom(dst),
                   x.ne[0], rows, node.fparams[0], round);
            return;
        default:
            launch(rms_norm_kernel<kAdd, 0>, grid, kThreads, 0, stream, xd, row_geom(x), add, wd, yd, row_geom(dst),
                   x.ne[0], rows, node.fparams[0], round);
            return;
    }
}

}  // namespace

void launch_rms_norm(const lmx_node& node, const lmx_node* add, const RoundTarget& round, cudaStream_t stream) {
    if (!add) {
        launch_rounding<false>(node, FusedAdd{}, round, stream);
        return;
    }
    const FusedAdd fused{static_cast<const char*>(add->src[0]->data), row_geom(*add->src[0]),
                         static_cast<const char*>(add->src[1]->data), row_geom(*add->src[1]),
                         static_cast<char*>(add->dst->data),          row_geom(*add->dst)};
    launch_rounding<true>(node, fused, round, stream);
}

}  // namespace llamux::cuda
