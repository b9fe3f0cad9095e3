// The f32 binary ops of one shape: add (dst = a + b) and SwiGLU (dst = silu(a) * b,
// silu(g) = g / (1 + e^-g), with the accurate expf as the reference's std::exp).
// Rows may have any strides; elements within a row are contiguous.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kElemsPerThread = 8;

struct AddOp {
    __device__ float operator()(float a, float b) const { return a + b; }
};
struct SwigluOp {
    __device__ float operator()(float g, float u) const { return (g / (1.0f + expf(-g))) * u; }
};

template <class Op>
__global__ void __launch_bounds__(kThreads)
    binary_kernel(const char* __restrict__ a, RowGeom ga, const char* __restrict__ b, RowGeom gb,
                  char* __restrict__ y, RowGeom gy, int64_t n, int64_t rows) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const Op op;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const auto* ar = reinterpret_cast<const float*>(a + row_offset(ga, r));
        const auto* br = reinterpret_cast<const float*>(b + row_offset(gb, r));
        auto* yr = reinterpret_cast<float*>(y + row_offset(gy, r));
        for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
             i += static_cast<int64_t>(gridDim.x) * kThreads) {
            yr[i] = op(ar[i], br[i]);
        }
    }
}

template <class Op>
void launch_binary(const lmx_node& node, cudaStream_t stream) {
    const lmx_tensor& a = *node.src[0];
    const lmx_tensor& b = *node.src[1];
    const lmx_tensor& y = *node.dst;
    const int64_t n = y.ne[0], rows = n_rows(y);
    // Several elements per thread: the row's address (three 64-bit divisions) is worked out
    // once per row by every thread, which costs more than one element's arithmetic.
    const dim3 grid(grid_for(n, kThreads * kElemsPerThread, 1024), grid_for(rows, 1, 65535));
    launch(binary_kernel<Op>, grid, kThreads, 0, stream, 
        static_cast<const char*>(a.data), row_geom(a), static_cast<const char*>(b.data), row_geom(b),
        static_cast<char*>(y.data), row_geom(y), n, rows);
}

}  // namespace

void launch_add(const lmx_node& node, cudaStream_t stream) { launch_binary<AddOp>(node, stream); }
void launch_swiglu(const lmx_node& node, cudaStream_t stream) {
    launch_binary<SwigluOp>(node, stream);
}

}  // namespace llamux::cuda
