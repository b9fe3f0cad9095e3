// The two ceilings the CUDA figures in docs/performance.md are held against, measured on
// the card at hand (METHOD: datasheet rates are only leads):
//   - device-to-device copy bandwidth, bytes read plus bytes written, over a 4 GiB copy;
//   - cuBLAS F16 x F16 -> F32 GEMM rate (the prompt path of cuda_matmul.cpp), TFLOP/s, on
//     random data, for a square 8192 product and for the 7B shape's prompt products.
// Each figure is the median of 20 timed runs after 3 warm-ups, timed with CUDA events.
//
//   nvcc -O2 -arch=sm_90 -o gpu_ceilings scripts/gpu_ceilings.cu -lcublas   (gpu_check.sh)
//   ./gpu_ceilings            # prints one "name value unit" line per figure
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    std::fprintf(stderr, "gpu_ceilings: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
}

void check(cublasStatus_t s, const char* what) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    std::fprintf(stderr, "gpu_ceilings: %s: %s\n", what, cublasGetStatusString(s));
    std::exit(1);
}

// Milliseconds of one run of f, median of `reps` after `warmup`.
template <typename F>
float median_ms(F&& f, int warmup = 3, int reps = 20) {
    cudaEvent_t a, b;
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
    for (int i = 0; i < warmup; ++i) f();
    std::vector<float> t;
    for (int i = 0; i < reps; ++i) {
        check(cudaEventRecord(a), "cudaEventRecord");
        f();
        check(cudaEventRecord(b), "cudaEventRecord");
        check(cudaEventSynchronize(b), "cudaEventSynchronize");
        float ms = 0;
        check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
        t.push_back(ms);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

__global__ void fill_random_f16(__half* p, size_t n, unsigned seed) {
    for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
        unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
        x ^= x >> 13;
        x *= 0x5bd1e995u;
        x ^= x >> 15;
        p[i] = __float2half(static_cast<float>(x & 0xFFFF) / 32768.0f - 1.0f);
    }
}

void copy_bandwidth() {
    const size_t bytes = size_t{4} << 30;
    void *src = nullptr, *dst = nullptr;
    check(cudaMalloc(&src, bytes), "cudaMalloc");
    check(cudaMalloc(&dst, bytes), "cudaMalloc");
    fill_random_f16<<<1024, 256>>>(static_cast<__half*>(src), bytes / 2, 1);
    check(cudaGetLastError(), "fill");
    const float ms = median_ms([&] { check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy"); });
    std::printf("copy_bandwidth %.0f GB/s (read + write, 4 GiB, %.3f ms)\n", 2.0 * bytes / (ms * 1e6), ms);
    cudaFree(src);
    cudaFree(dst);
}

// C[m, n] = A^T B as cuda_matmul.cpp calls it: A f16 [k, m], B f16 [k, n], C f32.
void gemm_rate(cublasHandle_t h, int m, int n, int k, const char* label) {
    __half *a = nullptr, *b = nullptr;
    float* c = nullptr;
    check(cudaMalloc(&a, size_t{2} * m * k), "cudaMalloc");
    check(cudaMalloc(&b, size_t{2} * k * n), "cudaMalloc");
    check(cudaMalloc(&c, size_t{4} * m * n), "cudaMalloc");
    fill_random_f16<<<1024, 256>>>(a, static_cast<size_t>(m) * k, 2);
    fill_random_f16<<<1024, 256>>>(b, static_cast<size_t>(k) * n, 3);
    check(cudaGetLastError(), "fill");
    const float one = 1, zero = 0;
    const float ms = median_ms([&] {
        check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, a, CUDA_R_16F, k, b, CUDA_R_16F, k,
                           &zero, c, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
    });
    std::printf("gemm_f16_%s %.1f TFLOP/s (m=%d n=%d k=%d, %.3f ms)\n", label, 2.0 * m * n * k / (ms * 1e9), m,
                n, k, ms);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
}

}  // namespace

int main() {
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    std::printf("device %s sm_%d%d %d SMs %.0f MiB\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                prop.totalGlobalMem / 1048576.0);
    copy_bandwidth();
    cublasHandle_t h;
    check(cublasCreate(&h), "cublasCreate");
    gemm_rate(h, 8192, 8192, 8192, "8192");
    gemm_rate(h, 4096, 512, 4096, "7b_attn");   // wq/wk/wv/wo on a 512-token prompt
    gemm_rate(h, 11008, 512, 4096, "7b_ffn");   // ffn_gate/ffn_up
    gemm_rate(h, 4096, 512, 11008, "7b_down");  // ffn_down
    cublasDestroy(h);
    return 0;
}
