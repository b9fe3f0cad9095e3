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

// rms_norm_row_kernel's work (cuda_norm.cu) by one block of kThreads: pieces f = thread,
// thread + kThreads, ... of four elements. b was written by other blocks of this launch: read
// past L1 (__ldcg), which may hold lines of an earlier kernel.
__device__ void norm_tail(const NormTail& t, float* scratch) {
    const int n4 = t.n / 4, tid = thread_index();
    const auto* a4 = reinterpret_cast<const float4*>(t.a);
    const auto* b4 = reinterpret_cast<const float4*>(t.b);
    auto* s4 = reinterpret_cast<float4*>(t.s);
    float sum = 0.0f;
    for (int f = tid; f < n4; f += kThreads) {
        const float4 p = __ldcg(a4 + f), q = __ldcg(b4 + f);
        const float4 x = make_float4(p.x + q.x, p.y + q.y, p.z + q.z, p.w + q.w);
        s4[f] = x;  // s may be a: this thread alone reads and writes piece f
        sum += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
    }
    sum = sum_over_block(sum, scratch);
    const float scale = 1.0f / sqrtf(sum / static_cast<float>(t.n) + t.eps);
    const bool rounded = t.round.vec_dot_type == LMX_TYPE_Q8_0;
    for (int f0 = 0; f0 < n4; f0 += kThreads) {  // the same trip count for every lane
        const int f = f0 + tid;
        float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (f < n4) {
            const float4 x = s4[f], g = reinterpret_cast<const float4*>(t.w)[f];
            o = make_float4((x.x * scale) * g.x, (x.y * scale) * g.y, (x.z * scale) * g.z, (x.w * scale) * g.w);
            reinterpret_cast<float4*>(t.dst)[f] = o;
        }
        if (rounded) round_q8_0_piece(o, f, f < n4, t.round);  // n is a multiple of 32
    }
}

// xq and xd are not __restrict__: the last block's rounding writes the next matmul's
// activations over them, once every block has read them.
template <int T, int kUnroll>
__global__ void __launch_bounds__(kThreads)
    mmv_int8_norm_kernel(const MmvGroup g, int64_t n_items, const int8_t* xq, const float* xd, const NormTail t,
                         unsigned* ticket) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    const bool mine = group_row(g, &wr, &y);
    if (mine) {
        typename int8dot::Kind<T>::Loaded ld[kUnroll];
        const float acc = row_dot<T, kUnroll>(wr, n_items, xq, xd, ld);
        if (threadIdx.x == 0) {
            *y = acc;
            __threadfence();  // the output is visible to the last block before the ticket
        }
    }
    __shared__ unsigned order;
    __shared__ float scratch[kRowsPerBlock];
    __syncthreads();
    if (thread_index() == 0) order = atomicAdd(ticket, 1u);
    __syncthreads();
    if (order != gridDim.x - 1) return;
    __threadfence();
    norm_tail(t, scratch);
    if (thread_index() == 0) *ticket = 0;  // for the next launch (kernels on a stream do not overlap)
}

template <int T>
void launch_typed(const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd, const NormTail& t,
                  unsigned* ticket, cudaStream_t stream) {
    using L = Int8Launch<T>;
    launch(mmv_int8_norm_kernel<T, L::kUnroll>, grid_for(group.rows[0], kRowsPerBlock, INT32_MAX),
           dim3(32, kRowsPerBlock), 0, stream, group, K / int8dot::Kind<T>::kItemElems, xq, xd, t, ticket);
}

}  // namespace

void launch_mmv_q8_norm(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                        const NormTail& t, unsigned* ticket, cudaStream_t stream) {
    dispatch_int8_type(stored_dtype, [&](auto type) {
        launch_typed<decltype(type)::value>(group, K, xq, xd, t, ticket, stream);
    });
}

}  // namespace llamux::cuda
