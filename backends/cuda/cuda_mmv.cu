// Matrix-vector products for single-token generation: y[N] = W x, W as stored on the GPU:
// the five quantized types kept as the file has them on int8 activations (dp4a), f16 and
// f32 weights on f32 x. Token generation reads every weight once per token, so these
// kernels are bound by memory bandwidth: a warp owns a row, its 32 lanes walk the row side
// by side (consecutive lanes read consecutive bytes) and the warp sums its lanes at the end.
// Four rows (warps) per block.
#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_launch.cuh"
#include "cuda_mmv_rows.cuh"

namespace llamux::cuda {
namespace {

// F16 weights. The activation is rounded to f16 first, as the reference does (the f16
// vec_dot_type), and as the cuBLAS path of prompt processing does.
// kVec: 8 elements per 16-byte load (K % 8 == 0, rows and x 16-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_f16_kernel(const __half* __restrict__ w, size_t row_elems, int64_t K,
                   const float* __restrict__ x, float* __restrict__ y, int64_t N) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= N) return;
    const __half* wr = w + row * row_elems;
    float acc = 0.0f;
    if constexpr (kVec) {
        for (int64_t c = threadIdx.x; c < K / 8; c += 32) {
            const uint4 raw = *reinterpret_cast<const uint4*>(wr + 8 * c);
            const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
            const auto* x4 = reinterpret_cast<const float4*>(x + 8 * c);
            const float4 a = __ldg(x4), b = __ldg(x4 + 1);
            const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float w0 = __half2float(__ushort_as_half(static_cast<unsigned short>(words[i] & 0xFFFFu)));
                const float w1 = __half2float(__ushort_as_half(static_cast<unsigned short>(words[i] >> 16)));
                acc += w0 * round_to<LMX_TYPE_F16>(xs[2 * i]) + w1 * round_to<LMX_TYPE_F16>(xs[2 * i + 1]);
            }
        }
    } else {
        for (int64_t i = threadIdx.x; i < K; i += 32) {
            acc += __half2float(wr[i]) * round_to<LMX_TYPE_F16>(__ldg(x + i));
        }
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[row] = acc;
}

// F32 weights. kVec: 4 elements per 16-byte load (K % 4 == 0, rows and x 16-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_f32_kernel(const float* __restrict__ w, size_t row_elems, int64_t K,
                   const float* __restrict__ x, float* __restrict__ y, int64_t N) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= N) return;
    const float* wr = w + row * row_elems;
    float acc = 0.0f;
    if constexpr (kVec) {
        for (int64_t c = threadIdx.x; c < K / 4; c += 32) {
            const float4 a = *reinterpret_cast<const float4*>(wr + 4 * c);
            const float4 b = __ldg(reinterpret_cast<const float4*>(x + 4 * c));
            acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        }
    } else {
        for (int64_t i = threadIdx.x; i < K; i += 32) acc += wr[i] * __ldg(x + i);
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[row] = acc;
}

// ---- quantized weights on int8 activations (the reference's vec_dot_type) ----------------
// The activations arrive rounded as the reference rounds them (cuda_activations.cu): int8
// quants xq and one float scale per block of 32 (Q8_0, for Q4_0/Q8_0 weights) or 256 (Q8_K,
// for the K-quants). The arithmetic per item (a block of 32, a Q6_K unit of 32, a Q4_K/Q5_K
// pair of sub-blocks) is cuda_int8_dot.cuh, shared with its host test: exact integer dot
// products (dp4a), then the reference's float multiply by the two scales.
//
// kEarly (Q4_0 and Q8_0; LLAMUX_CUDA_EARLY_WEIGHTS=1): the first kUnroll items' weights are
// loaded before pdl_wait, overlapping the kernel before (cuda_launch.cuh). kWeightsFirst
// (Q4_0 and Q8_0; LLAMUX_CUDA_WEIGHTS_FIRST=1): the weights-first walk, Int8WeightsFirst in
// cuda_mmv_rows.cuh. Template parameters, so that the default kernel is the one measured
// without them.
template <int T, int kUnroll, int kMinBlocks, bool kEarly = false, bool kWeightsFirst = false>
__global__ void __launch_bounds__(32 * kRowsPerBlock, kMinBlocks)
    mmv_int8_kernel(const MmvGroup g, int64_t n_items, const int8_t* __restrict__ xq,
                    const float* __restrict__ xd) {
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    const bool mine = group_row(g, &wr, &y);
    typename int8dot::Kind<T>::Loaded ld[kUnroll];
    if constexpr (kEarly) {
        if (mine) load_first_weights<T, kUnroll>(wr, n_items, ld);
    }
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    if (!mine) return;  // whole warps only: no barrier below
    const float acc = row_dot<T, kUnroll, kEarly, kWeightsFirst>(wr, n_items, xq, xd, ld);
    if (threadIdx.x == 0) *y = acc;
}

template <int T>
void launch_int8(const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd, dim3 grid, dim3 block,
                 cudaStream_t stream) {
    using L = Int8Launch<T>;
    const int64_t n_items = K / int8dot::Kind<T>::kItemElems;
    if constexpr (kWeightsLoadApart<T>) {
        using WF = Int8WeightsFirst<T>;
        const bool early = early_weights<T>();
        if (weights_first<T>()) {
            const auto kernel = early ? mmv_int8_kernel<T, WF::kUnroll, WF::kMinBlocks, true, WF::kWeightsFirst>
                                      : mmv_int8_kernel<T, WF::kUnroll, WF::kMinBlocks, false, WF::kWeightsFirst>;
            launch(kernel, grid, block, 0, stream, group, n_items, xq, xd);
            return;
        }
        if (early) {
            launch(mmv_int8_kernel<T, L::kUnroll, L::kMinBlocks, true>, grid, block, 0, stream, group, n_items, xq, xd);
            return;
        }
    }
    launch(mmv_int8_kernel<T, L::kUnroll, L::kMinBlocks>, grid, block, 0, stream, group, n_items, xq, xd);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

// Every stored type of quantized blocks is read by both kinds of kernel.
bool mmv_q8_supports(int32_t stored_dtype) { return holds_blocks(stored_dtype); }

void launch_mmv_q8(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                   cudaStream_t stream) {
    int64_t rows = 0;
    for (int i = 0; i < group.n; ++i) rows += group.rows[i];
    const dim3 block(32, kRowsPerBlock);
    const dim3 grid(grid_for(rows, kRowsPerBlock, INT32_MAX));
    dispatch_block_type(stored_dtype, [&](auto type) {
        launch_int8<decltype(type)::value>(group, K, xq, xd, grid, block, stream);
    });
}

void launch_mmv(int32_t stored_dtype, const void* w, size_t row_bytes, int64_t K, int64_t N,
                const float* x, float* y, cudaStream_t stream) {
    const dim3 block(32, kRowsPerBlock);
    const dim3 grid(grid_for(N, kRowsPerBlock, INT32_MAX));
    switch (stored_dtype) {
        case LMX_TYPE_F16: {
            const auto* wh = static_cast<const __half*>(w);
            const bool vec = K % 8 == 0 && row_bytes % 16 == 0 && aligned16(w) && aligned16(x);
            if (vec) {
                launch(mmv_f16_kernel<true>, grid, block, 0, stream, wh, row_bytes / 2, K, x, y, N);
            } else {
                launch(mmv_f16_kernel<false>, grid, block, 0, stream, wh, row_bytes / 2, K, x, y, N);
            }
            return;
        }
        case LMX_TYPE_F32: {
            const auto* wf = static_cast<const float*>(w);
            const bool vec = K % 4 == 0 && row_bytes % 16 == 0 && aligned16(w) && aligned16(x);
            if (vec) {
                launch(mmv_f32_kernel<true>, grid, block, 0, stream, wf, row_bytes / 4, K, x, y, N);
            } else {
                launch(mmv_f32_kernel<false>, grid, block, 0, stream, wf, row_bytes / 4, K, x, y, N);
            }
            return;
        }
        default:
            return;  // plan_matmul sends only F16 and F32 here
    }
}

}  // namespace llamux::cuda
