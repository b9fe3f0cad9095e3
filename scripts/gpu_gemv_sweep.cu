// Times the int8 matrix-vector kernel of the CUDA backend (backends/cuda/cuda_mmv.cu, included
// below) for the matrix shapes of a 7B model as the plugin launches them, Q4_0 and Q4_K, in
// several (unroll, min blocks per SM, weights first) variants, so that the plugin's choice
// (Int8Launch, Int8WeightsFirst in cuda_mmv_rows.cuh) rests on a measurement.
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

// Random blocks of type T; Q4_0 scales set to ~0.01 (timing only: values do not matter).
template <int T>
Buffers make(const Shape& s) {
    constexpr int kElems = T == LMX_TYPE_Q4_0 ? 32 : 256, kBytes = T == LMX_TYPE_Q4_0 ? 18 : 144;
    Buffers b;
    b.row_bytes = static_cast<size_t>(s.K / kElems) * kBytes;
    const size_t bytes = b.row_bytes * s.N + 16;
    std::vector<uint8_t> host(bytes);
    uint32_t r = 12345;
    for (size_t i = 0; i < bytes; ++i) {
        r = r * 1664525u + 1013904223u;
        host[i] = static_cast<uint8_t>(r >> 24);
    }
    for (size_t blk = 0; T == LMX_TYPE_Q4_0 && blk + 18 <= bytes; blk += 18) {
        host[blk] = 0x1F;
        host[blk + 1] = 0x21;
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
    std::printf("gemv_%s %-14s unroll %d minblocks %2d%s: %7.2f us %7.0f GB/s\n", T == LMX_TYPE_Q4_0 ? "q4_0" : "q4_k",
                s.name, kUnroll, kMinBlocks, kWeightsFirst ? " weights first" : "", us, gbs);
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
        const Buffers k = make<LMX_TYPE_Q4_K>(s);
        time_variant<LMX_TYPE_Q4_K, 1, 0>(s, k, stream);
        time_variant<LMX_TYPE_Q4_K, 2, 0>(s, k, stream);
        release(k);
    }
    return 0;
}
