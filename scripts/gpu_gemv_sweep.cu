// Times the int8 matrix-vector kernel of the CUDA backend (backends/cuda/cuda_mmv.cu, included
// below) for the matrix shapes of a 7B model as the plugin launches them, Q4_0, Q4_K and
// Q5_K (the file's blocks and split, cuda_stored_types.hpp), and the Q6_K head (both
// layouts), in several (unroll, min blocks per SM, weights first) variants, so that the
// plugin's choice (Int8Launch, Int8WeightsFirst in cuda_mmv_rows.cuh;
// LLAMUX_CUDA_SPLIT_BLOCKS) rests on a measurement.
// Each figure: 20 replays of a CUDA graph of 64 launches that rotate over 16 copies of the
// weights (more than the 60 MB L2 of an H200), median per launch; GB/s counts weight bytes.
//
//   built by scripts/gpu_check.sh; run by scripts/gpu_run.sh (prints one line per variant)
#include "../backends/cuda/cuda_mmv.cu"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using llamux::cuda::mmv_int8_kernel;

void check(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    std::fprintf(stderr, "gpu_gemv_sweep: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
}

constexpr int kCopies = 16, kLaunches = 64, kReplays = 20;

struct Shape {
    int64_t K, N;
    const char* name;
};

struct Buffers {
    std::vector<uint8_t*> w;
    int8_t* xq = nullptr;
    float* xd = nullptr;
    float* y = nullptr;
    size_t row_bytes = 0;
};

using llamux::cuda::blocks_type;
using llamux::cuda::is_split_type;
using llamux::cuda::kStoredQ4_0Split;
using llamux::cuda::kStoredQ4_KSplit;
using llamux::cuda::kStoredQ5_KSplit;
using llamux::cuda::kStoredQ6_KSplit;

// Random blocks of stored type T (Q4_0, Q4_K, Q5_K, Q6_K, split or not); the f16 scale of every
// Q4_0 / Q6_K block set to ~0.01 (timing only: values do not matter).
template <int T>
Buffers make(const Shape& s) {
    constexpr int F = blocks_type(T);
    constexpr int kElems = F == LMX_TYPE_Q4_0 ? 32 : 256;
    constexpr int kFileBytes = F == LMX_TYPE_Q4_0 ? 18 : F == LMX_TYPE_Q4_K ? 144 : F == LMX_TYPE_Q5_K ? 176 : 210;
    const int64_t n_blocks = s.K / kElems;
    Buffers b;
    b.row_bytes = is_split_type(T) ? llamux::cuda::split_row_bytes(T, n_blocks)
                                   : static_cast<size_t>(n_blocks) * kFileBytes;
    const size_t bytes = b.row_bytes * s.N + 16;
    std::vector<uint8_t> host(bytes);
    uint32_t r = 12345;
    for (size_t i = 0; i < bytes; ++i) {
        r = r * 1664525u + 1013904223u;
        host[i] = static_cast<uint8_t>(r >> 24);
    }
    for (int64_t row = 0; F != LMX_TYPE_Q4_K && F != LMX_TYPE_Q5_K && row < s.N; ++row) {
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t at = is_split_type(T) ? llamux::cuda::split_body_bytes(T) * n_blocks + 2 * blk
                                                : kFileBytes * blk + (F == LMX_TYPE_Q6_K ? 208 : 0);
            const size_t d = static_cast<size_t>(row) * b.row_bytes + static_cast<size_t>(at);
            host[d] = 0x1F;
            host[d + 1] = 0x21;
        }
    }
    for (int c = 0; c < kCopies; ++c) {
        uint8_t* p = nullptr;
        check(cudaMalloc(&p, bytes), "cudaMalloc");
        check(cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
        b.w.push_back(p);
    }
    std::vector<int8_t> xq(static_cast<size_t>(s.K));
    for (auto& v : xq) v = static_cast<int8_t>((r = r * 1664525u + 1013904223u) >> 25);
    std::vector<float> xd(static_cast<size_t>(s.K / 32), 0.01f);  // enough for Q8_0 and Q8_K
    check(cudaMalloc(&b.xq, xq.size()), "cudaMalloc");
    check(cudaMalloc(&b.xd, xd.size() * 4), "cudaMalloc");
    check(cudaMalloc(&b.y, static_cast<size_t>(s.N) * 4), "cudaMalloc");
    check(cudaMemcpy(b.xq, xq.data(), xq.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(b.xd, xd.data(), xd.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy");
    return b;
}

void release(const Buffers& b) {
    for (uint8_t* p : b.w) cudaFree(p);
    cudaFree(b.xq);
    cudaFree(b.xd);
    cudaFree(b.y);
}

template <int T, int kUnroll, int kMinBlocks, bool kWeightsFirst = false>
void time_variant(const Shape& s, const Buffers& b, cudaStream_t stream) {
    const dim3 block(32, llamux::cuda::kRowsPerBlock);
    const dim3 grid(llamux::cuda::grid_for(s.N, llamux::cuda::kRowsPerBlock, INT32_MAX));
    cudaGraph_t graph;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
    for (int i = 0; i < kLaunches; ++i) {
        llamux::cuda::MmvGroup g;
        g.w[0] = b.w[i % kCopies];
        g.row_bytes[0] = b.row_bytes;
        g.y[0] = b.y;
        g.rows[0] = s.N;
        g.n = 1;
        mmv_int8_kernel<T, kUnroll, kMinBlocks, false, kWeightsFirst><<<grid, block, 0, stream>>>(
            g, s.K / llamux::cuda::int8dot::Kind<T>::kItemElems, b.xq, b.xd);
    }
    check(cudaStreamEndCapture(stream, &graph), "end capture");
    cudaGraphExec_t exec;
    check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    check(cudaGraphLaunch(exec, stream), "warm-up");
    std::vector<float> per_launch;
    for (int r = 0; r < kReplays; ++r) {
        cudaEventRecord(e0, stream);
        cudaGraphLaunch(exec, stream);
        cudaEventRecord(e1, stream);
        check(cudaEventSynchronize(e1), "replay");
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        per_launch.push_back(ms * 1000.0f / kLaunches);
    }
    std::sort(per_launch.begin(), per_launch.end());
    const float us = per_launch[per_launch.size() / 2];
    const double gbs = static_cast<double>(b.row_bytes) * s.N / (us * 1e3);
    const char* type = T == LMX_TYPE_Q4_0       ? "q4_0"
                       : T == kStoredQ4_0Split ? "q4_0_split"
                       : T == LMX_TYPE_Q4_K    ? "q4_k"
                       : T == kStoredQ4_KSplit ? "q4_k_split"
                       : T == LMX_TYPE_Q5_K    ? "q5_k"
                       : T == kStoredQ5_KSplit ? "q5_k_split"
                       : T == LMX_TYPE_Q6_K    ? "q6_k"
                                               : "q6_k_split";
    std::printf("gemv_%-10s %-14s unroll %d minblocks %2d%s: %7.2f us %7.0f GB/s\n", type, s.name, kUnroll,
                kMinBlocks, kWeightsFirst ? " weights first" : "", us, gbs);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
}

}  // namespace

int main() {
    cudaStream_t stream;
    check(cudaStreamCreate(&stream), "stream");
    // The 7B products as the plugin launches them: q/k/v and gate/up as one launch each.
    const Shape shapes[] = {{4096, 4096, "4096x4096"}, {4096, 12288, "4096x12288"}, {4096, 22016, "4096x22016"},
                            {11008, 4096, "11008x4096"}};
    for (const Shape& s : shapes) {
        const Buffers b = make<LMX_TYPE_Q4_0>(s);
        time_variant<LMX_TYPE_Q4_0, 1, 0>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 2, 0>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 4, 0>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 2, 8>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 2, 0, true>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 4, 0, true>(s, b, stream);
        time_variant<LMX_TYPE_Q4_0, 8, 0, true>(s, b, stream);
        release(b);
        const Buffers split = make<kStoredQ4_0Split>(s);
        time_variant<kStoredQ4_0Split, 1, 0>(s, split, stream);
        time_variant<kStoredQ4_0Split, 2, 0>(s, split, stream);
        time_variant<kStoredQ4_0Split, 4, 0>(s, split, stream);
        time_variant<kStoredQ4_0Split, 4, 0, true>(s, split, stream);
        release(split);
        const Buffers k = make<LMX_TYPE_Q4_K>(s);
        time_variant<LMX_TYPE_Q4_K, 1, 0>(s, k, stream);
        time_variant<LMX_TYPE_Q4_K, 2, 0>(s, k, stream);
        release(k);
        const Buffers ks = make<kStoredQ4_KSplit>(s);
        time_variant<kStoredQ4_KSplit, 1, 0>(s, ks, stream);
        time_variant<kStoredQ4_KSplit, 2, 0>(s, ks, stream);
        time_variant<kStoredQ4_KSplit, 4, 0>(s, ks, stream);
        release(ks);
        const Buffers k5 = make<LMX_TYPE_Q5_K>(s);
        time_variant<LMX_TYPE_Q5_K, 1, 0>(s, k5, stream);
        release(k5);
        const Buffers k5s = make<kStoredQ5_KSplit>(s);
        time_variant<kStoredQ5_KSplit, 1, 0>(s, k5s, stream);
        time_variant<kStoredQ5_KSplit, 2, 0>(s, k5s, stream);
        release(k5s);
    }
    // The output head of a Q4_0 file (Q6_K, 32000 rows), the file's blocks and split.
    const Shape head{4096, 32000, "4096x32000"};
    const Buffers q6 = make<LMX_TYPE_Q6_K>(head);
    time_variant<LMX_TYPE_Q6_K, 1, 0>(head, q6, stream);
    time_variant<LMX_TYPE_Q6_K, 2, 0>(head, q6, stream);
    release(q6);
    const Buffers q6s = make<kStoredQ6_KSplit>(head);
    time_variant<kStoredQ6_KSplit, 1, 0>(head, q6s, stream);
    time_variant<kStoredQ6_KSplit, 2, 0>(head, q6s, stream);
    release(q6s);
    return 0;
}
