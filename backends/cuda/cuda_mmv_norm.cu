// Token generation's attn_output and ffn_down products with the residual add and the next
// rms_norm in the same launch (fusion level 5, cuda_program.cpp): the row walk of the int8
// kernels (cuda_mmv_rows.cuh); then every block takes a ticket, and the block that finishes
// last, which sees every other block's outputs, does the add + norm (and the rounding for
// the next matmul) over the whole row. Saves the norm's launch, two per layer.
#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_launch.cuh"
#include "cuda_mmv_rows.cuh"
#include "cuda_round.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 32 * kRowsPerBlock;

// The block's threads numbered 0 .. kThreads - 1 (blocks are 32 x kRowsPerBlock).
__device__ __forceinline__ int thread_index() { return static_cast<int>(threadIdx.y * 32 + threadIdx.x); }

// The sum of v over the block; scratch holds kRowsPerBlock floats.
__device__ __forceinline__ float sum_over_block(float v, float* scratch) {
    v = warp_sum(v);
    if (threadIdx.x == 0) scratch[threadIdx.y] = v;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kRowsPerBlock; ++w) total += scratch[w];
    return total;
}

// L2 prefetch of the 16 bytes at p (no register, no wait); nothing on the emulator.
__device__ __forceinline__ void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}

constexpr int kBatch = 2;  // pieces a thread loads before it uses any (second pass): 2 keeps
                           // the Q4_0 kernel at 56 registers, as the plain one (9 blocks per SM)

// rms_norm_row_kernel's norm (cuda_norm.cu) by one block of kThreads, on x = a + b, which
// the warps have already written to s, each its own element (mmv_int8_norm_kernel): pieces
// f = thread, thread + kThreads, ... of four elements. s was written by other blocks of this
// launch: read past L1 (__ldcg), which may hold lines of an earlier kernel. The loads come
// in batches before the stores that might alias them, so that a thread waits for memory
// once per batch, not once per piece; the norm's weights are fetched into L2 during the sum.
// kQ8K: the rounding is Q8_K's (else Q8_0's or none, as t.round says); a template parameter
// so that the other kernels do not carry its registers (the Q4_0 one would lose a block per
// SM).
template <bool kQ8K>
__device__ void norm_tail(const NormTail& t, float* scratch, float2 (&exchange)[2][kRowsPerBlock]) {
    const int n4 = t.n / 4, tid = thread_index();
    const auto* s4 = reinterpret_cast<const float4*>(t.s);
    const auto* w4 = reinterpret_cast<const float4*>(t.w);
    for (int f = tid; f < n4; f += kThreads) prefetch_l2(w4 + f);
    float sum = 0.0f;
#pragma unroll 4
    for (int f = tid; f < n4; f += kThreads) {
        const float4 x = __ldcg(s4 + f);
        sum += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
    }
    sum = sum_over_block(sum, scratch);
    const float scale = 1.0f / sqrtf(sum / static_cast<float>(t.n) + t.eps);
    const bool q8_0 = !kQ8K && t.round.vec_dot_type == LMX_TYPE_Q8_0;
    int calls = 0;  // round_q8_k_piece's, alternating between the two exchange arrays
    for (int f0 = 0; f0 < n4; f0 += kThreads * kBatch) {  // the same trip count for every lane
        float4 x[kBatch], g[kBatch];
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
            const int f = f0 + k * kThreads + tid;
            if (f < n4) {
                x[k] = __ldcg(s4 + f);
                g[k] = w4[f];
            }
        }
#pragma unroll
        for (int k = 0; k < kBatch; ++k) {
            const int f = f0 + k * kThreads + tid;
            float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (f < n4) {
                o = make_float4((x[k].x * scale) * g[k].x, (x[k].y * scale) * g[k].y, (x[k].z * scale) * g[k].z,
                                (x[k].w * scale) * g[k].w);
                reinterpret_cast<float4*>(t.dst)[f] = o;
            }
            if (q8_0) round_q8_0_piece(o, f, f < n4, t.round);  // n is a multiple of 32
            if constexpr (kQ8K) round_q8_k_piece(o, f, f < n4, threadIdx.y, exchange[calls++ % 2], t.round);
        }
    }
}

// xq and xd are not __restrict__: the last block's rounding writes the next matmul's
// activations over them, once every block has read them. Each warp adds its row's product
// to the residual (x = a + b, written to s and b's row written too); the last block norms x.
// kEarly: the early weights (cuda_mmv_rows.cuh); kQ8K: norm_tail's.
template <int T, int kUnroll, bool kEarly, bool kQ8K>
__global__ void __launch_bounds__(kThreads)
    mmv_int8_norm_kernel(const MmvGroup g, int64_t n_items, const int8_t* xq, const float* xd, const NormTail t,
                         unsigned* ticket) {
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    int64_t r = 0;
    const bool mine = group_row(g, &wr, &y, nullptr, &r);
    typename int8dot::Kind<T>::Loaded ld[kUnroll];
    if constexpr (kEarly) {
        if (mine) load_first_weights<T, kUnroll>(wr, n_items, ld);
    }
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    if (mine) {
        const float acc = row_dot<T, kUnroll, kEarly, Int8Launch<T>::kWeightsFirst>(wr, n_items, xq, xd, ld);
        if (threadIdx.x == 0) {
            *y = acc;
            t.s[r] = t.a[r] + acc;  // the add node's value: s is a or apart from a and b (fuse_norm_tails)
            __threadfence();  // the outputs are visible to the last block before the ticket
        }
    }
    __shared__ unsigned order;
    __shared__ float scratch[kRowsPerBlock];
    __shared__ float2 exchange[2][kRowsPerBlock];
    __syncthreads();
    if (thread_index() == 0) order = atomicAdd(ticket, 1u);
    __syncthreads();
    if (order != gridDim.x - 1) return;
    __threadfence();
    norm_tail<kQ8K>(t, scratch, exchange);
    if (thread_index() == 0) *ticket = 0;  // for the next launch (kernels on a stream do not overlap)
}

template <int T, bool kQ8K>
void launch_typed(const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd, const NormTail& t,
                  unsigned* ticket, cudaStream_t stream) {
    using L = Int8Launch<T>;
    auto kernel = mmv_int8_norm_kernel<T, L::kUnroll, false, kQ8K>;
    if constexpr (kWeightsLoadApart<T>) {
        if (early_weights<T>()) kernel = mmv_int8_norm_kernel<T, L::kUnroll, true, kQ8K>;
    }
    launch(kernel, grid_for(group.rows[0], kRowsPerBlock, INT32_MAX), dim3(32, kRowsPerBlock), 0, stream, group,
           K / int8dot::Kind<T>::kItemElems, xq, xd, t, ticket);
}

}  // namespace

void launch_mmv_q8_norm(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                        const NormTail& t, unsigned* ticket, cudaStream_t stream) {
    dispatch_block_type(stored_dtype, [&](auto type) {
        if (t.round.vec_dot_type == LMX_TYPE_Q8_K) {
            launch_typed<decltype(type)::value, true>(group, K, xq, xd, t, ticket, stream);
        } else {
            launch_typed<decltype(type)::value, false>(group, K, xq, xd, t, ticket, stream);
        }
    });
}

}  // namespace llamux::cuda
