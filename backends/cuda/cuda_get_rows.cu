// get_rows (the token embedding): dst[n_embd, n_tok] = rows ids[t] of a table as stored on
// the GPU (F32, F16, or one of the quantized types kept quantized). An id outside the table
// gives a row of zeros (the session checks ids before it runs a graph).
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_quant.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 128;

template <int DT>
__global__ void __launch_bounds__(kThreads)
    get_rows_float_kernel(const char* __restrict__ table, size_t row_bytes, int64_t n_vocab,
                          const int32_t* __restrict__ ids, char* __restrict__ dst, int64_t dst_nb1,
                          int64_t n, int64_t n_tok) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const int64_t id = ids[t];
        auto* out = reinterpret_cast<float*>(dst + t * dst_nb1);
        const bool valid = id >= 0 && id < n_vocab;
        const char* row = table + (valid ? id : 0) * row_bytes;
        for (int64_t i = threadIdx.x; i < n; i += kThreads) {
            out[i] = valid ? load_elem<DT>(row, i) : 0.0f;
        }
    }
}

template <int T>
__global__ void __launch_bounds__(kThreads)
    get_rows_quant_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_vocab,
                          const int32_t* __restrict__ ids, char* __restrict__ dst, int64_t dst_nb1,
                          int64_t n, int64_t n_tok) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const int64_t id = ids[t];
        auto* out = reinterpret_cast<float*>(dst + t * dst_nb1);
        const bool valid = id >= 0 && id < n_vocab;
        for (int64_t u = threadIdx.x; u < n / 32; u += kThreads) {
            float v[32];
            if (valid) {
                decode_unit<T>(table + id * row_bytes, n / 32, u, v);
            } else {
#pragma unroll
                for (int l = 0; l < 32; ++l) v[l] = 0.0f;
            }
#pragma unroll
            for (int l = 0; l < 32; ++l) out[32 * u + l] = v[l];
        }
    }
}

}  // namespace

void launch_get_rows(const lmx_node& node, int32_t stored_dtype, size_t row_bytes,
                     cudaStream_t stream) {
    const lmx_tensor& table = *node.src[0];
    const lmx_tensor& ids_t = *node.src[1];
    const lmx_tensor& dst = *node.dst;
    const int64_t n = table.ne[0], n_vocab = table.ne[1], n_tok = ids_t.ne[0];
    const auto* ids = static_cast<const int32_t*>(ids_t.data);
    auto* d = static_cast<char*>(dst.data);
    const auto nb1 = static_cast<int64_t>(dst.nb[1]);
    const unsigned grid = grid_for(n_tok, 1, 65535);
    const auto* tb = static_cast<const uint8_t*>(table.data);
    const auto* tc = static_cast<const char*>(table.data);
    switch (stored_dtype) {
        case LMX_TYPE_F32:
            launch(get_rows_float_kernel<LMX_TYPE_F32>, grid, kThreads, 0, stream, tc, row_bytes, n_vocab, ids, d, nb1, n, n_tok);
            return;
        case LMX_TYPE_F16:
            launch(get_rows_float_kernel<LMX_TYPE_F16>, grid, kThreads, 0, stream, tc, row_bytes, n_vocab, ids, d, nb1, n, n_tok);
            return;
        case LMX_TYPE_BF16:
            launch(get_rows_float_kernel<LMX_TYPE_BF16>, grid, kThreads, 0, stream, tc, row_bytes, n_vocab, ids, d, nb1, n, n_tok);
            return;
        default:  // quantized blocks; other types are refused by supports_node
            dispatch_block_type(stored_dtype, [&](auto type) {
                launch(get_rows_quant_kernel<decltype(type)::value>, grid, kThreads, 0, stream, tb, row_bytes, n_vocab,
                       ids, d, nb1, n, n_tok);
            });
            return;
    }
}

}  // namespace llamux::cuda
