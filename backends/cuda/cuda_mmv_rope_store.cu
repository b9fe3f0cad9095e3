// Token generation's q/k/v products with the rope of q and k and both KV stores in the same
// launch (fusion level 4, cuda_program.cpp): the row walk of the int8 kernels
// (cuda_mmv_rows.cuh), then each block's four rows, two rope pairs, are rotated and written
// where the separate rope and kv_store kernels would write them. Saves the rope + KV store
// launch of every layer.
#include "cuda_common.cuh"
#include "cuda_int8_dot.cuh"
#include "cuda_launch.cuh"
#include "cuda_mmv_rows.cuh"
#include "cuda_rope.cuh"

namespace llamux::cuda {
namespace {

// kEarly: the early weights (cuda_mmv_rows.cuh).
template <int T, int kUnroll, bool kEarly>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_int8_rope_store_kernel(const MmvGroup g, int64_t n_items, const int8_t* __restrict__ xq,
                               const float* __restrict__ xd, const RopeStoreEpilogue e) {
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    int which = 0;  // 0 q, 1 k, 2 v
    int64_t r = 0;  // row within that matrix
    const bool mine = group_row(g, &wr, &y, &which, &r);
    typename int8dot::Kind<T>::Loaded ld[kUnroll];
    if constexpr (kEarly) {
        if (mine) load_first_weights<T, kUnroll>(wr, n_items, ld);
    }
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const float acc = mine ? row_dot<T, kUnroll, kEarly, Int8Launch<T>::kWeightsFirst>(wr, n_items, xq, xd, ld) : 0.0f;
    __shared__ float rows[kRowsPerBlock];  // the block's four products: two rope pairs
    if (threadIdx.x == 0) rows[threadIdx.y] = acc;
    __syncthreads();
    if (!mine || threadIdx.x != 0) return;
    *y = acc;  // the matmul's own output
    const int32_t n_past = *e.n_past;
    if (which == 2) {
        store_elem<LMX_TYPE_F16>(static_cast<char*>(e.v_cache) + n_past * e.v_cache_nb1, r, acc);
        return;
    }
    // Row r is dimension d of its head; rows 4b .. 4b + 3 hold dimensions of the same parity
    // as threadIdx.y (matrices start at multiples of 4, heads at multiples of 2).
    const int d = static_cast<int>(r % e.head_dim);
    float out = acc;
    if (d < e.n_rot) {
        const float other = rows[threadIdx.y ^ 1];
        const bool even = d % 2 == 0;
        float y0, y1;
        rope_pair(even ? acc : other, even ? other : acc, e.positions[0], d - d % 2, e.theta_scale, e.freq_scale, y0,
                  y1);
        out = even ? y0 : y1;
    }
    if (which == 0) {
        e.q_rope[r] = out;
    } else {
        e.k_rope[r] = out;
        store_elem<LMX_TYPE_F16>(static_cast<char*>(e.k_cache) + n_past * e.k_cache_nb1, r, out);
    }
}

template <int T>
void launch_typed(const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd, const RopeStoreEpilogue& e,
                  cudaStream_t stream) {
    int64_t rows = 0;
    for (int i = 0; i < group.n; ++i) rows += group.rows[i];
    using L = Int8Launch<T>;
    auto kernel = mmv_int8_rope_store_kernel<T, L::kUnroll, false>;
    if constexpr (kWeightsLoadApart<T>) {
        if (early_weights<T>()) kernel = mmv_int8_rope_store_kernel<T, L::kUnroll, true>;
    }
    launch(kernel, grid_for(rows, kRowsPerBlock, INT32_MAX), dim3(32, kRowsPerBlock), 0, stream, group,
           K / int8dot::Kind<T>::kItemElems, xq, xd, e);
}

}  // namespace

void launch_mmv_q8_rope_store(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq,
                              const float* xd, const RopeStoreEpilogue& e, cudaStream_t stream) {
    dispatch_block_type(stored_dtype, [&](auto type) { launch_typed<decltype(type)::value>(group, K, xq, xd, e, stream); });
}

}  // namespace llamux::cuda
