// KV store: cache rows n_past .. n_past + n_tok - 1 = the new k or v rows, converted to the
// cache type (F16, F32 or BF16). The source is [n_embd_kv, n_tok], or the roped k viewed as
// [head_dim, n_head_kv, n_tok] with its heads back to back: either way row t is n_embd_kv
// contiguous floats.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;

template <int DT>
__global__ void __launch_bounds__(kThreads)
    kv_store_kernel(const char* __restrict__ src, int64_t src_row_bytes, char* __restrict__ cache,
                    int64_t cache_row_bytes, int64_t n, int64_t n_tok, const int32_t* __restrict__ n_past_ptr) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int32_t n_past = *n_past_ptr;
    for (int64_t t = blockIdx.y; t < n_tok; t += gridDim.y) {
        const auto* s = reinterpret_cast<const float*>(src + t * src_row_bytes);
        char* d = cache + (n_past + t) * cache_row_bytes;
        for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
             i += static_cast<int64_t>(gridDim.x) * kThreads) {
            store_elem<DT>(d, i, s[i]);
        }
    }
}

__global__ void set_n_past_kernel(int32_t* dst, int32_t n_past) { *dst = n_past; }

}  // namespace

void launch_set_n_past(int32_t* dst, int32_t n_past, cudaStream_t stream) {
    // A plain launch (no PDL): the kernel writes what the others read, and waits for nothing.
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(1);
    config.stream = stream;
    (void)cudaLaunchKernelEx(&config, set_n_past_kernel, dst, n_past);
}

void launch_kv_store(const lmx_node& node, const int32_t* n_past, cudaStream_t stream) {
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& cache = *node.dst;
    const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
    const int64_t n_tok = three_d ? src.ne[2] : src.ne[1];
    const auto src_row = static_cast<int64_t>(three_d ? src.nb[2] : src.nb[1]);
    const int64_t n = cache.ne[0];
    const auto cache_row = static_cast<int64_t>(cache.nb[1]);
    const dim3 grid(grid_for(n, kThreads, 1024), grid_for(n_tok, 1, 65535));
    const auto* s = static_cast<const char*>(src.data);
    auto* c = static_cast<char*>(cache.data);
    switch (cache.dtype) {
        case LMX_TYPE_F16:
            launch(kv_store_kernel<LMX_TYPE_F16>, grid, kThreads, 0, stream, s, src_row, c, cache_row, n, n_tok, n_past);
            return;
        case LMX_TYPE_BF16:
            launch(kv_store_kernel<LMX_TYPE_BF16>, grid, kThreads, 0, stream, s, src_row, c, cache_row, n, n_tok, n_past);
            return;
        default:
            launch(kv_store_kernel<LMX_TYPE_F32>, grid, kThreads, 0, stream, s, src_row, c, cache_row, n, n_tok, n_past);
            return;
    }
}

}  // namespace llamux::cuda
