// Copy with conversion between F32, F16 and BF16: row by row for tensors of one shape (any
// row strides), or as one flat row for a reshape between contiguous tensors.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"

namespace llamux::cuda {
namespace {

constexpr int kThreads = 256;

template <int S, int D>
__global__ void __launch_bounds__(kThreads)
    copy_kernel(const char* __restrict__ src, RowGeom gs, char* __restrict__ dst, RowGeom gd,
                int64_t n, int64_t rows) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const char* sr = src + row_offset(gs, r);
        char* dr = dst + row_offset(gd, r);
        for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
             i += static_cast<int64_t>(gridDim.x) * kThreads) {
            store_elem<D>(dr, i, load_elem<S>(sr, i));
        }
    }
}

template <int S>
void launch_from(int32_t dst_dtype, const char* src, RowGeom gs, char* dst, RowGeom gd, int64_t n,
                 int64_t rows, cudaStream_t stream) {
    const dim3 grid(grid_for(n, kThreads, 1024), grid_for(rows, 1, 65535));
    switch (dst_dtype) {
        case LMX_TYPE_F16:
            launch(copy_kernel<S, LMX_TYPE_F16>, grid, kThreads, 0, stream, src, gs, dst, gd, n, rows);
            return;
        case LMX_TYPE_BF16:
            launch(copy_kernel<S, LMX_TYPE_BF16>, grid, kThreads, 0, stream, src, gs, dst, gd, n, rows);
            return;
        default:
            launch(copy_kernel<S, LMX_TYPE_F32>, grid, kThreads, 0, stream, src, gs, dst, gd, n, rows);
            return;
    }
}

bool same_shape(const lmx_tensor& a, const lmx_tensor& b) {
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k]) return false;
    }
    return true;
}

}  // namespace

void launch_copy(const lmx_node& node, cudaStream_t stream) {
    const lmx_tensor& src = *node.src[0];
    const lmx_tensor& dst = *node.dst;
    int64_t n = src.ne[0], rows = n_rows(src);
    RowGeom gs = row_geom(src), gd = row_geom(dst);
    if (!same_shape(src, dst)) {  // contiguous reshape (checked): one long row
        n *= rows;
        rows = 1;
        gs = gd = RowGeom{};
    }
    const auto* s = static_cast<const char*>(src.data);
    auto* d = static_cast<char*>(dst.data);
    switch (src.dtype) {
        case LMX_TYPE_F16: launch_from<LMX_TYPE_F16>(dst.dtype, s, gs, d, gd, n, rows, stream); return;
        case LMX_TYPE_BF16: launch_from<LMX_TYPE_BF16>(dst.dtype, s, gs, d, gd, n, rows, stream); return;
        default: launch_from<LMX_TYPE_F32>(dst.dtype, s, gs, d, gd, n, rows, stream); return;
    }
}

}  // namespace llamux::cuda
