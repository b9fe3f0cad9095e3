// Conversions feeding cuBLAS in prompt processing: quantized weight rows dequantized to an
// f16 scratch (one thread per 32-element unit, 64 bytes written as four 16-byte stores), and
// f32 activations converted to f16.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_quant.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kDequantThreads = 128;

// Grid: x over the units of a row, y over rows (no 64-bit division per unit).
template <int T>
__global__ void __launch_bounds__(kDequantThreads)
    dequantize_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t units_per_row,
                          int64_t n_rows, __half* __restrict__ out) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t u = static_cast<int64_t>(blockIdx.x) * kDequantThreads + threadIdx.x;
    if (u >= units_per_row) return;
    for (int64_t row = blockIdx.y; row < n_rows; row += gridDim.y) {
        float v[32];
        decode_unit<T>(w + row * row_bytes, units_per_row, u, v);
        // out row = units_per_row * 64 bytes, so every unit starts 16-byte aligned.
        auto* dst = reinterpret_cast<uint4*>(out + row * units_per_row * 32 + u * 32);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
            uint32_t h[4];  // two f16 per word, the lower element in the low half
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const uint32_t lo = __half_as_ushort(__float2half_rn(v[8 * c + 2 * k]));
                const uint32_t hi = __half_as_ushort(__float2half_rn(v[8 * c + 2 * k + 1]));
                h[k] = lo | (hi << 16);
            }
            dst[c] = make_uint4(h[0], h[1], h[2], h[3]);
        }
    }
}

__global__ void __launch_bounds__(kThreads)
    f32_to_f16_kernel(const char* __restrict__ x, size_t x_row_bytes, int64_t K, int64_t M,
                      __half* __restrict__ out) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t n = K * M;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int64_t m = i / K, k = i % K;
        out[i] = __float2half_rn(reinterpret_cast<const float*>(x + m * x_row_bytes)[k]);
    }
}

constexpr int64_t kMaxBlocks = 65535;

}  // namespace

void launch_dequantize_f16(int32_t stored_dtype, const void* w, size_t row_bytes, int64_t K,
                           int64_t n_rows, void* out, cudaStream_t stream) {
    const int64_t units_per_row = K / 32;
    const dim3 grid(grid_for(units_per_row, kDequantThreads, 65535), grid_for(n_rows, 1, 65535));
    const auto* wb = static_cast<const uint8_t*>(w);
    auto* o = static_cast<__half*>(out);
    // F16/F32 weights go to cuBLAS as they are (cuda_matmul.cpp): nothing to launch.
    dispatch_block_type(stored_dtype, [&](auto type) {
        launch(dequantize_f16_kernel<decltype(type)::value>, grid, kDequantThreads, 0, stream, wb, row_bytes,
               units_per_row, n_rows, o);
    });
}

void launch_f32_to_f16(const float* x, size_t x_row_bytes, int64_t K, int64_t M, void* out,
                       cudaStream_t stream) {
    const unsigned grid = grid_for(K * M, kThreads, kMaxBlocks);
    launch(f32_to_f16_kernel, grid, kThreads, 0, stream, reinterpret_cast<const char*>(x), x_row_bytes,
                                                     K, M, static_cast<__half*>(out));
}

}  // namespace llamux::cuda
