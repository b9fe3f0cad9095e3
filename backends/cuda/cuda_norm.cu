// RMSNorm: dst[n, rows] = (x * (1 / sqrt(mean(x^2) + eps))) * w[n]. One block per row; the
// sum of squares in f32 (the reference sums in double: the difference is far below 1e-6
// relative for rows of a few thousand elements).
#include "cuda_common.cuh"
#include "cuda_launch.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(const char* __restrict__ x, RowGeom gx, const float* __restrict__ w,
                    char* __restrict__ y, RowGeom gy, int64_t n, int64_t rows, float eps) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    __shared__ float scratch[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const auto* xr = reinterpret_cast<const float*>(x + row_offset(gx, r));
        auto* yr = reinterpret_cast<float*>(y + row_offset(gy, r));
        float sum = 0.0f;
        for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += xr[i] * xr[i];
        sum = block_sum(sum, scratch);
        const float mean = sum / static_cast<float>(n);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = (xr[i] * scale) * w[i];
    }
}

}  // namespace

void launch_rms_norm(const lmx_node& node, cudaStream_t stream) {
    const lmx_tensor& x = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    const int64_t rows = n_rows(x);
    launch(rms_norm_kernel, grid_for(rows, 1, INT32_MAX), kThreads, 0, stream, 
        static_cast<const char*>(x.data), row_geom(x), static_cast<const float*>(node.src[1]->data),
        static_cast<char*>(dst.data), row_geom(dst), x.ne[0], rows, node.fparams[0]);
}

}  // namespace llamux::cuda
