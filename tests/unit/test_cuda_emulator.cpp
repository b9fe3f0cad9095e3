// The CUDA emulator (backends/cuda/emulator) on kernels written for the test: barriers and
// shared memory, warp shuffles, barriers that can never be met, the reverse order, atomics
// across blocks, graph capture and replay, and the emulated cuBLAS against a plain product.
#include <gtest/gtest.h>

#ifdef LLAMUX_HAVE_CUDA_EMULATOR

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdlib>
#include <random>
#include <vector>

namespace {

// Each thread writes its index to shared memory; after the barrier each reads its mirror's.
__global__ void mirror_kernel(int* out) {
    __shared__ int values[256];
    const unsigned i = threadIdx.x;
    values[i] = static_cast<int>(i + 1000 * blockIdx.x);
    __syncthreads();
    out[blockIdx.x * blockDim.x + i] = values[blockDim.x - 1 - i];
}

TEST(CudaEmulator, ABarrierMakesEveryWriteVisible) {
    std::vector<int> out(3 * 256, -1);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(3);
    config.blockDim = dim3(256);
    ASSERT_EQ(cudaLaunchKernelEx(&config, mirror_kernel, out.data()), cudaSuccess);
    for (int b = 0; b < 3; ++b) {
        for (int i = 0; i < 256; ++i) ASSERT_EQ(out[b * 256 + i], 255 - i + 1000 * b) << b << " " << i;
    }
}

__global__ void shuffle_kernel(float* sum, int* from_lane_3, int* rotated) {
    const int lane = static_cast<int>(threadIdx.x % 32);
    float v = static_cast<float>(threadIdx.x);
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    sum[threadIdx.x] = v;
    from_lane_3[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 3);
    // width 8: lane l reads lane (l + 1) % 8 of its own group of eight
    rotated[threadIdx.x] = __shfl_sync(0xffffffffu, lane, (lane + 1) % 8, 8);
}

TEST(CudaEmulator, WarpShufflesExchangeWithinAWarp) {
    std::vector<float> sum(64);
    std::vector<int> from3(64), rotated(64);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(64);
    ASSERT_EQ(cudaLaunchKernelEx(&config, shuffle_kernel, sum.data(), from3.data(), rotated.data()), cudaSuccess);
    for (int t = 0; t < 64; ++t) {
        const int warp = t / 32, lane = t % 32;
        EXPECT_EQ(sum[t], static_cast<float>(32 * 31 / 2 + 32 * 32 * warp)) << t;
        EXPECT_EQ(from3[t], 32 * warp + 3) << t;
        EXPECT_EQ(rotated[t], lane / 8 * 8 + (lane % 8 + 1) % 8) << t;
    }
}

// Odd threads return early, even ones wait at a barrier: fine (exited threads leave it).
// The half-warp that shuffles while the other half waits at __syncthreads never meets.
__global__ void early_exit_kernel(int* out) {
    if (threadIdx.x % 2) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void divergent_kernel(float* out) {
    if (threadIdx.x < 16) {
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
    } else {
        __syncthreads();
    }
}

TEST(CudaEmulator, BarriersThatCannotBeMetFailTheLaunch) {
    std::vector<int> ints(64, 0);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(64);
    ASSERT_EQ(cudaLaunchKernelEx(&config, early_exit_kernel, ints.data()), cudaSuccess);
    EXPECT_EQ(ints[0], 1);
    EXPECT_EQ(ints[1], 0);

    std::vector<float> floats(32);
    config.blockDim = dim3(32);
    EXPECT_EQ(cudaLaunchKernelEx(&config, divergent_kernel, floats.data()), cudaErrorLaunchFailure);
    EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // read and cleared
}

TEST(CudaEmulator, InvalidLaunchesAreRefused) {
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(2048);
    std::vector<int> out(2048);
    EXPECT_EQ(cudaLaunchKernelEx(&config, mirror_kernel, out.data()), cudaErrorInvalidConfiguration);
    config.blockDim = dim3(32);
    config.dynamicSmemBytes = size_t{1} << 20;
    EXPECT_EQ(cudaLaunchKernelEx(&config, mirror_kernel, out.data()), cudaErrorInvalidConfiguration);
    (void)cudaGetLastError();
}

// Without a barrier, a block's thread 0 reads what the last thread writes: it sees the
// write in one order only, the bug the reverse order exists to show.
__global__ void racy_kernel(int* shared_word, int* seen) {
    if (threadIdx.x == blockDim.x - 1) *shared_word = 7;
    if (threadIdx.x == 0) *seen = *shared_word;
}

TEST(CudaEmulator, ThreadOrderFollowsTheEnvironment) {
    const char* order = std::getenv("LLAMUX_CUDA_EMULATOR_ORDER");
    const bool reverse = order && std::string(order) == "reverse";
    int word = 0, seen = -1;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(64);
    ASSERT_EQ(cudaLaunchKernelEx(&config, racy_kernel, &word, &seen), cudaSuccess);
    EXPECT_EQ(seen, reverse ? 7 : 0);
}

// Each block writes its part; the block that finishes last (by an atomic ticket after a
// fence) adds up every part: the "last block" pattern.
__global__ void last_block_sum_kernel(int* parts, unsigned* ticket, int* total, int* last) {
    __shared__ unsigned mine;
    if (threadIdx.x == 0) parts[blockIdx.x] = static_cast<int>(blockIdx.x) + 1;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        mine = atomicAdd(ticket, 1u);
    }
    __syncthreads();
    if (mine != gridDim.x - 1) return;
    if (threadIdx.x == 0) {
        int sum = 0;
        for (unsigned b = 0; b < gridDim.x; ++b) sum += __ldcg(parts + b);
        *total = sum;
        *last = static_cast<int>(blockIdx.x);
        *ticket = 0;
    }
}

TEST(CudaEmulator, TheLastBlockSeesEveryBlocksWrites) {
    const char* order = std::getenv("LLAMUX_CUDA_EMULATOR_ORDER");
    const bool reverse = order && std::string(order) == "reverse";
    std::vector<int> parts(5, 0);
    unsigned ticket = 0;
    int total = 0, last = -1;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(5);
    config.blockDim = dim3(64);
    ASSERT_EQ(cudaLaunchKernelEx(&config, last_block_sum_kernel, parts.data(), &ticket, &total, &last), cudaSuccess);
    EXPECT_EQ(total, 1 + 2 + 3 + 4 + 5);
    EXPECT_EQ(last, reverse ? 0 : 4);
    EXPECT_EQ(ticket, 0u);
}

__global__ void add_one_kernel(float* data, int n) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) data[i] += 1.0f;
}

TEST(CudaEmulator, CapturedWorkRunsWhenTheGraphIsLaunched) {
    float* dev = nullptr;
    ASSERT_EQ(cudaMalloc(&dev, 100 * sizeof(float)), cudaSuccess);
    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    ASSERT_EQ(cudaMemsetAsync(dev, 0, 100 * sizeof(float), stream), cudaSuccess);

    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(4);
    config.blockDim = dim3(32);
    config.stream = stream;
    ASSERT_EQ(cudaLaunchKernelEx(&config, add_one_kernel, dev, 100), cudaSuccess);
    cudaGraph_t graph = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
    std::vector<float> host(100, -1.0f);
    ASSERT_EQ(cudaMemcpyAsync(host.data(), dev, 100 * sizeof(float), cudaMemcpyDeviceToHost, stream), cudaSuccess);
    EXPECT_EQ(host[99], 0.0f);  // captured, not run

    cudaGraphExec_t exec = nullptr;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaMemcpyAsync(host.data(), dev, 100 * sizeof(float), cudaMemcpyDeviceToHost, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    EXPECT_EQ(host[0], 2.0f);
    EXPECT_EQ(host[99], 2.0f);

    // Synchronizing a stream under capture fails and spoils the capture, as on a GPU.
    ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaErrorStreamCaptureUnsupported);
    cudaGraph_t spoiled = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(stream, &spoiled), cudaErrorStreamCaptureInvalidated);
    EXPECT_EQ(spoiled, nullptr);
    (void)cudaGetLastError();

    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(stream);
    EXPECT_EQ(cudaFree(dev), cudaSuccess);
    EXPECT_EQ(cudaFree(dev), cudaErrorInvalidValue);  // not allocated any more
    (void)cudaGetLastError();
}

TEST(CudaEmulator, MemoryBeyondTheDeviceIsRefused) {
    size_t free_bytes = 0, total = 0;
    ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
    EXPECT_EQ(p, nullptr);
    EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
}

// C = A^T B as the plugin calls it (column-major, A K x N with lda, B K x M), f16 inputs.
TEST(CudaEmulator, GemmExMatchesAPlainProduct) {
    const int N = 37, M = 5, K = 70, lda = 72;
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<__half> a(static_cast<size_t>(lda) * N), b(static_cast<size_t>(K) * M);
    for (auto& v : a) v = __float2half_rn(u(rng));
    for (auto& v : b) v = __float2half_rn(u(rng));
    std::vector<float> c(static_cast<size_t>(N) * M, std::nanf(""));
    cublasHandle_t handle = nullptr;
    ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
    const float one = 1.0f, zero = 0.0f;
    ASSERT_EQ(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, a.data(), CUDA_R_16F, lda, b.data(),
                           CUDA_R_16F, K, &zero, c.data(), CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              CUBLAS_STATUS_SUCCESS);
    for (int m = 0; m < M; ++m) {
        for (int n = 0; n < N; ++n) {
            double want = 0;
            for (int k = 0; k < K; ++k) {
                want += static_cast<double>(__half2float(a[static_cast<size_t>(n) * lda + k])) *
                        __half2float(b[static_cast<size_t>(m) * K + k]);
            }
            EXPECT_NEAR(c[static_cast<size_t>(m) * N + n], want, 1e-4) << n << " " << m;
        }
    }
    EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, nullptr, 1, nullptr, K, &zero,
                          c.data(), N),
              CUBLAS_STATUS_INVALID_VALUE);  // lda < K
    cublasDestroy(handle);
}

// One 16 x 16 x 16 product on tensor-core fragments, by one warp.
__global__ void wmma_kernel(const __half* a, const __half* b, float* c) {
    using namespace nvcuda;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 1.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

TEST(CudaEmulator, WmmaComputesTheTileProduct) {
    std::vector<__half> a(256), b(256);
    for (int i = 0; i < 256; ++i) {
        a[i] = __float2half_rn(static_cast<float>(i % 7) - 3.0f);
        b[i] = __float2half_rn(static_cast<float>(i % 5) - 2.0f);
    }
    std::vector<float> c(256);
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(32);
    ASSERT_EQ(cudaLaunchKernelEx(&config, wmma_kernel, a.data(), b.data(), c.data()), cudaSuccess);
    for (int i = 0; i < 16; ++i) {
        for (int j = 0; j < 16; ++j) {
            float want = 1.0f;  // b is column-major: column j is b[16 j .. 16 j + 15]
            for (int k = 0; k < 16; ++k) want += __half2float(a[i * 16 + k]) * __half2float(b[j * 16 + k]);
            EXPECT_EQ(c[i * 16 + j], want) << i << " " << j;
        }
    }
}

}  // namespace

#else

TEST(CudaEmulator, NotBuilt) { GTEST_SKIP() << "built without the CUDA emulator (Boost.Context not found)"; }

#endif
