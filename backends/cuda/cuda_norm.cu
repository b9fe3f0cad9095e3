// RMSNorm: dst[n, rows] = (x * (1 / sqrt(mean(x^2) + eps))) * w[n]. One block per row; the
// sum of squares in f32 (the reference sums in double: the difference is far below 1e-6
// relative for rows of a few thousand elements).
//
// Two fusions (chosen by cuda_program.cpp; each saves a launch per use, ~4 per layer in
// token generation): x may be the sum a + b of the add node before the norm, which the
// kernel then also writes out (the residual stream), and the normalised row may also be
// written rounded for the matmul after the norm (cuda_round.cuh), sparing it the rounding.
// Either way every value equals what the separate kernels would produce.
#include <type_traits>

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

// Token generation's one row, held in registers: each thread loads its four-element pieces
// once (16-byte loads), and the rounding works on them in place: for Q8_0 the eight threads
// of a 32-element block share their maximum by shuffles, for Q8_K the two warps of a
// 256-element block by one exchange in shared memory (cuda_round.cuh). The general kernel
// above reads the row three times and rounds warp by warp; this one is a single pass
// through memory and one block reduction, which matters because generation waits on this
// kernel twice per layer (H200, 7B shape: tg128 475 t/s against 398 with the general
// kernel).
// kRound: as rms_norm_kernel's. kPieces: four-element pieces per thread (n <= 4 * kPieces *
// kThreads). Same values as the general kernel but for the order of the sum of squares.
template <bool kAdd, int kRound, int kPieces>
__global__ void __launch_bounds__(kThreads)
    rms_norm_row_kernel(const float* x, const float* a, const float* b, float* s, const float* __restrict__ w,
                        float* __restrict__ y, int n, float eps, const RoundTarget round) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    __shared__ float scratch[32];
    __shared__ float2 exchange[kPieces][kThreads / 32];  // Q8_K: one array per piece (round_q8_k_piece)
    const int n4 = n / 4;
    float4 v[kPieces], g[kPieces];
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kPieces; ++j) {
        const int f = threadIdx.x + j * kThreads;
        v[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        g[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (f < n4) {
            g[j] = reinterpret_cast<const float4*>(w)[f];  // loaded with x: the two trips overlap
            if constexpr (kAdd) {
                // s may be a or b (x += ...): this thread alone reads and writes piece f.
                const float4 p = reinterpret_cast<const float4*>(a)[f];
                const float4 q = reinterpret_cast<const float4*>(b)[f];
                v[j] = make_float4(p.x + q.x, p.y + q.y, p.z + q.z, p.w + q.w);
                reinterpret_cast<float4*>(s)[f] = v[j];
            } else {
                v[j] = reinterpret_cast<const float4*>(x)[f];
            }
        }
        sum += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    sum = block_sum(sum, scratch);
    const float scale = 1.0f / sqrtf(sum / static_cast<float>(n) + eps);
#pragma unroll
    for (int j = 0; j < kPieces; ++j) {
        const int f = threadIdx.x + j * kThreads;
        if (j > 0 && j * kThreads >= n4) break;  // the same for the whole block
        float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (f < n4) {
            o = make_float4((v[j].x * scale) * g[j].x, (v[j].y * scale) * g[j].y, (v[j].z * scale) * g[j].z,
                            (v[j].w * scale) * g[j].w);
            reinterpret_cast<float4*>(y)[f] = o;
        }
        if constexpr (kRound == 32) round_q8_0_piece(o, f, f < n4, round);  // n is a multiple of 32
        if constexpr (kRound == 256) round_q8_k_piece(o, f, f < n4, threadIdx.x >> 5, exchange[j], round);
    }
}

// Whether rms_norm_row_kernel takes the node: one row of n (a multiple of 32, at most
// 8 * kThreads) contiguous floats, every row 16-byte aligned, no rounding, Q8_0, or Q8_K
// (n a multiple of 256).
constexpr int kRowMaxPieces = 2;
bool row_kernel_fits(const lmx_node& node, const lmx_node* add, const RoundTarget& round) {
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const auto row = [&](const lmx_tensor& t) { return n_rows(t) == 1 && t.nb[0] == sizeof(float) && aligned(t.data); };
    const lmx_tensor& x = *node.src[0];
    const int64_t n = x.ne[0];
    bool fits = n % 32 == 0 && n <= 4 * kRowMaxPieces * kThreads && row(x) && row(*node.dst) &&
                row(*node.src[1]) &&
                (round.vec_dot_type < 0 || round.vec_dot_type == LMX_TYPE_Q8_0 ||
                 (round.vec_dot_type == LMX_TYPE_Q8_K && n % 256 == 0));
    if (add) fits = fits && row(*add->src[0]) && row(*add->src[1]) && row(*add->dst);
    return fits;
}

template <bool kAdd, int kRound>
void launch_row(const lmx_node& node, const lmx_node* add, const RoundTarget& round, cudaStream_t stream) {
    const int n = static_cast<int>(node.src[0]->ne[0]);
    const auto* x = static_cast<const float*>(node.src[0]->data);
    const auto* w = static_cast<const float*>(node.src[1]->data);
    auto* y = static_cast<float*>(node.dst->data);
    const float* a = add ? static_cast<const float*>(add->src[0]->data) : nullptr;
    const float* b = add ? static_cast<const float*>(add->src[1]->data) : nullptr;
    float* s = add ? static_cast<float*>(add->dst->data) : nullptr;
    if (n <= 4 * kThreads) {
        launch(rms_norm_row_kernel<kAdd, kRound, 1>, 1, kThreads, 0, stream, x, a, b, s, w, y, n, node.fparams[0],
               round);
    } else {
        launch(rms_norm_row_kernel<kAdd, kRound, kRowMaxPieces>, 1, kThreads, 0, stream, x, a, b, s, w, y, n,
               node.fparams[0], round);
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
    if (row_kernel_fits(node, add, round)) {
        const auto launch_for = [&](auto with_add) {
            constexpr bool kAdd = decltype(with_add)::value;
            switch (round.vec_dot_type) {
                case LMX_TYPE_Q8_0: return launch_row<kAdd, 32>(node, add, round, stream);
                case LMX_TYPE_Q8_K: return launch_row<kAdd, 256>(node, add, round, stream);
                default: return launch_row<kAdd, 0>(node, add, round, stream);
            }
        };
        add ? launch_for(std::true_type{}) : launch_for(std::false_type{});
        return;
    }
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
