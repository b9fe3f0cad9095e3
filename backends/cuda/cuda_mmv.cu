// Matrix-vector products for single-token generation: y[N] = W x, W as stored on the GPU
// (quantized, f16 or f32), x f32. Token generation reads every weight once per token, so
// these kernels are bound by memory bandwidth: a warp owns a row, its 32 lanes walk the row
// in 32-element units side by side (consecutive lanes read consecutive bytes), dequantize
// in registers and the warp sums its lanes at the end. Four rows (warps) per block.
#include "cuda_common.cuh"
#include "cuda_launch.cuh"
#include "cuda_quant.cuh"

namespace llamux::cuda {
namespace {

constexpr int kRowsPerBlock = 4;

__device__ __forceinline__ float dot32(const float (&v)[32], const float* x) {
    const auto* x4 = reinterpret_cast<const float4*>(x);  // 16-byte aligned (see launch_mmv)
    float acc = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const float4 a = __ldg(x4 + i);
        acc += v[4 * i] * a.x + v[4 * i + 1] * a.y + v[4 * i + 2] * a.z + v[4 * i + 3] * a.w;
    }
    return acc;
}

template <int T>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_quant_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_units,
                     const float* __restrict__ x, float* __restrict__ y, int64_t N) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= N) return;  // whole warps only: no barrier below
    const uint8_t* wr = w + row * row_bytes;
    float acc = 0.0f;
    for (int64_t u = threadIdx.x; u < n_units; u += 32) {
        float v[32];
        decode_unit<T>(wr, u, v);
        acc += dot32(v, x + 32 * u);
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[row] = acc;
}

// F16 weights. The activation is rounded to f16 first, as the reference does (the f16
// vec_dot_type), and as the cuBLAS path of prompt processing does.
// kVec: 8 elements per 16-byte load (K % 8 == 0, rows and x 16-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_f16_kernel(const __half* __restrict__ w, size_t row_elems, int64_t K,
                   const float* __restrict__ x, float* __restrict__ y, int64_t N) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= N) return;
    const __half* wr = w + row * row_elems;
    float acc = 0.0f;
    if constexpr (kVec) {
        for (int64_t c = threadIdx.x; c < K / 8; c += 32) {
            const uint4 raw = *reinterpret_cast<const uint4*>(wr + 8 * c);
            const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
            const auto* x4 = reinterpret_cast<const float4*>(x + 8 * c);
            const float4 a = __ldg(x4), b = __ldg(x4 + 1);
            const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float w0 = __half2float(__ushort_as_half(static_cast<unsigned short>(words[i] & 0xFFFFu)));
                const float w1 = __half2float(__ushort_as_half(static_cast<unsigned short>(words[i] >> 16)));
                acc += w0 * round_to<LMX_TYPE_F16>(xs[2 * i]) + w1 * round_to<LMX_TYPE_F16>(xs[2 * i + 1]);
            }
        }
    } else {
        for (int64_t i = threadIdx.x; i < K; i += 32) {
            acc += __half2float(wr[i]) * round_to<LMX_TYPE_F16>(__ldg(x + i));
        }
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[row] = acc;
}

// F32 weights. kVec: 4 elements per 16-byte load (K % 4 == 0, rows and x 16-byte aligned).
template <bool kVec>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_f32_kernel(const float* __restrict__ w, size_t row_elems, int64_t K,
                   const float* __restrict__ x, float* __restrict__ y, int64_t N) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
    if (row >= N) return;
    const float* wr = w + row * row_elems;
    float acc = 0.0f;
    if constexpr (kVec) {
        for (int64_t c = threadIdx.x; c < K / 4; c += 32) {
            const float4 a = *reinterpret_cast<const float4*>(wr + 4 * c);
            const float4 b = __ldg(reinterpret_cast<const float4*>(x + 4 * c));
            acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        }
    } else {
        for (int64_t i = threadIdx.x; i < K; i += 32) acc += wr[i] * __ldg(x + i);
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) y[row] = acc;
}

// ---- Q4_0 and Q8_0 weights on Q8_0 activations (int8 dot products) -----------------------
// The activations arrive rounded as the reference rounds them (cuda_activations.cu): int8
// quants xq and one float scale per 32 elements. Per block the integer sum is exact, and
// sum += sumi * (d_w * d_x) is the reference's own formula (graph/src/quant_legacy.cpp).
//
// Blocks are 18 (Q4_0) or 34 (Q8_0) bytes, so a block starts on a 2-byte boundary only: a
// lane reads the aligned 4-byte words that cover it (5 or 9; up to 2 bytes past the block,
// which kAllocPadding keeps inside the allocation) and shifts the quants into
// place with funnel shifts. Lanes take consecutive blocks, so a warp reads a contiguous run
// of the row; kUnroll blocks per lane are loaded before any is used. kMinBlocks (CTAs per
// SM, 0: no bound) caps the registers so that more rows are in flight at once. The chosen
// pair is kQ8Unroll / kQ8MinBlocks; scripts/gpu_gemv_sweep.cu times the others. On an H200
// (2026-11-26) unroll 2 without a bound was best or within 3% of best on all three 7B
// shapes: 4.1 us for 4096x4096 (2.3 TB/s), 8.9 us for 4096x11008 and 11008x4096 (2.9 TB/s);
// unroll 4 took 5.3 / 9.5 / 10.7 us.
constexpr int kQ8Unroll = 2;
constexpr int kQ8MinBlocks = 0;

// Aligned words covering a block that starts 2 bytes into its first word, at worst.
template <int T>
struct Q8Traits {
    static constexpr int kBlockBytes = QuantTraits<T>::kBlockBytes;
    static constexpr int kWords = (kBlockBytes + 2 + 3) / 4;
};

template <int T>
__device__ __forceinline__ int block_sumi(const uint32_t (&w)[Q8Traits<T>::kWords], int shift,
                                          const uint4& xa, const uint4& xb) {
    const int xw[8] = {static_cast<int>(xa.x), static_cast<int>(xa.y), static_cast<int>(xa.z),
                       static_cast<int>(xa.w), static_cast<int>(xb.x), static_cast<int>(xb.y),
                       static_cast<int>(xb.z), static_cast<int>(xb.w)};
    int sumi = 0;
    if constexpr (T == LMX_TYPE_Q4_0) {
        int sumx = 0;  // the -8 offset of every weight quant, applied once
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const uint32_t qs = __funnelshift_rc(w[j], w[j + 1], shift);
            sumi = __dp4a(static_cast<int>(qs & 0x0F0F0F0Fu), xw[j], sumi);
            sumi = __dp4a(static_cast<int>((qs >> 4) & 0x0F0F0F0Fu), xw[4 + j], sumi);
            sumx = __dp4a(0x01010101, xw[j], sumx);
            sumx = __dp4a(0x01010101, xw[4 + j], sumx);
        }
        sumi -= 8 * sumx;
    } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) sumi = __dp4a(static_cast<int>(__funnelshift_rc(w[j], w[j + 1], shift)), xw[j], sumi);
    }
    return sumi;
}

// This warp's row: row r of the group's matrix i, its weights and its output (unrolled:
// no run-time index into g). False past the last row.
__device__ __forceinline__ bool group_row(const MmvGroup& g, const uint8_t** wr, float** y) {
    int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
#pragma unroll
    for (int i = 0; i < kMaxMmvGroup; ++i) {
        if (*wr == nullptr && i < g.n) {
            if (r < g.rows[i]) {
                *wr = static_cast<const uint8_t*>(g.w[i]) + r * g.row_bytes[i];
                *y = g.y[i] + r;
            } else {
                r -= g.rows[i];
            }
        }
    }
    return *wr != nullptr;
}

template <int T, int kUnroll, int kMinBlocks>
__global__ void __launch_bounds__(32 * kRowsPerBlock, kMinBlocks)
    mmv_q8_kernel(const MmvGroup g, int64_t n_blocks, const int8_t* __restrict__ xq,
                  const float* __restrict__ xd) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    using Tr = Q8Traits<T>;
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    if (!group_row(g, &wr, &y)) return;  // whole warps only: no barrier below
    float acc = 0.0f;
    for (int64_t b0 = threadIdx.x; b0 < n_blocks; b0 += 32 * kUnroll) {
        uint32_t raw[kUnroll][Tr::kWords];
        uint4 xa[kUnroll], xb[kUnroll];
        float dx[kUnroll];
        int off[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t b = b0 + 32 * u;
            if (b < n_blocks) {
                const uint8_t* p = wr + b * Tr::kBlockBytes;
                off[u] = static_cast<int>(reinterpret_cast<uintptr_t>(p) & 3);  // 0 or 2
                const auto* pw = reinterpret_cast<const uint32_t*>(p - off[u]);
#pragma unroll
                for (int k = 0; k < Tr::kWords; ++k) raw[u][k] = __ldg(pw + k);
                const auto* x4 = reinterpret_cast<const uint4*>(xq + 32 * b);
                xa[u] = __ldg(x4);
                xb[u] = __ldg(x4 + 1);
                dx[u] = __ldg(xd + b);
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (b0 + 32 * u < n_blocks) {
                const float dw = __half2float(__ushort_as_half(static_cast<unsigned short>(raw[u][0] >> (8 * off[u]))));
                // The quants start 2 bytes after d: byte off + 2 of the first word.
                const int sumi = block_sumi<T>(raw[u], 8 * (off[u] + 2), xa[u], xb[u]);
                acc += static_cast<float>(sumi) * (dw * dx[u]);
            }
        }
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) *y = acc;
}

// Q6_K weights on Q8_K activations (x as int8 quants with one scale per 256 elements). A
// lane takes one 32-element unit at a time (two of the block's 16-element sub-blocks):
// the 6-bit quants are assembled four to a word (low nibbles from ql, high bits from qh,
// minus 32 per byte) and multiplied with dp4a; isum = sc0 * sumi0 + sc1 * sumi1 as in
// the reference (graph/src/quant_kquants_dot.cpp), scaled by d_w * d_x per unit.
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    mmv_q6k_kernel(const MmvGroup g, int64_t n_units, const int8_t* __restrict__ xq,
                   const float* __restrict__ xd) {
    pdl_wait();  // cuda_launch.cuh: before reading what earlier kernels wrote
    pdl_trigger();
    const uint8_t* wr = nullptr;
    float* y = nullptr;
    if (!group_row(g, &wr, &y)) return;
    float acc = 0.0f;
    for (int64_t u = threadIdx.x; u < n_units; u += 32) {
        const uint8_t* b = wr + 210 * (u >> 3);
        const int s = static_cast<int>(u & 7), h = s >> 2, p = s & 3;
        uint32_t ql[8], qh[8];
        load_words_2aligned(b + 64 * h + 32 * (p & 1), ql);
        load_words_2aligned(b + 128 + 32 * h, qh);
        const auto* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h + 2 * p);
        const float dw = load_half(b + 208);
        const auto* x4 = reinterpret_cast<const uint4*>(xq + 32 * u);
        const uint4 xa = __ldg(x4), xb = __ldg(x4 + 1);
        const int xw[8] = {static_cast<int>(xa.x), static_cast<int>(xa.y), static_cast<int>(xa.z),
                           static_cast<int>(xa.w), static_cast<int>(xb.x), static_cast<int>(xb.y),
                           static_cast<int>(xb.z), static_cast<int>(xb.w)};
        const int lshift = p < 2 ? 0 : 4;
        int sumi0 = 0, sumi1 = 0;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            const uint32_t lo = (ql[j] >> lshift) & 0x0F0F0F0Fu;
            const uint32_t hi = ((qh[j] >> (2 * p)) & 0x03030303u) << 4;
            const int q = static_cast<int>(__vsub4(lo | hi, 0x20202020u));
            if (j < 4) {
                sumi0 = __dp4a(q, xw[j], sumi0);
            } else {
                sumi1 = __dp4a(q, xw[j], sumi1);
            }
        }
        const int isum = sc[0] * sumi0 + sc[1] * sumi1;
        acc += (dw * __ldg(xd + (u >> 3))) * static_cast<float>(isum);
    }
    acc = warp_sum(acc);
    if (threadIdx.x == 0) *y = acc;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool mmv_supports(int32_t stored_dtype) {
    switch (stored_dtype) {
        case LMX_TYPE_F32:
        case LMX_TYPE_F16:
        case LMX_TYPE_Q4_0:
        case LMX_TYPE_Q8_0:
        case LMX_TYPE_Q4_K:
        case LMX_TYPE_Q5_K:
        case LMX_TYPE_Q6_K:
            return true;
        default:
            return false;
    }
}

bool mmv_q8_supports(int32_t stored_dtype) {
    return stored_dtype == LMX_TYPE_Q4_0 || stored_dtype == LMX_TYPE_Q8_0 || stored_dtype == LMX_TYPE_Q6_K;
}

void launch_mmv_q8(int32_t stored_dtype, const MmvGroup& group, int64_t K, const int8_t* xq, const float* xd,
                   cudaStream_t stream) {
    int64_t rows = 0;
    for (int i = 0; i < group.n; ++i) rows += group.rows[i];
    const dim3 block(32, kRowsPerBlock);
    const dim3 grid(grid_for(rows, kRowsPerBlock, INT32_MAX));
    if (stored_dtype == LMX_TYPE_Q4_0) {
        launch(mmv_q8_kernel<LMX_TYPE_Q4_0, kQ8Unroll, kQ8MinBlocks>, grid, block, 0, stream, group, K / 32, xq, xd);
    } else if (stored_dtype == LMX_TYPE_Q8_0) {
        launch(mmv_q8_kernel<LMX_TYPE_Q8_0, kQ8Unroll, kQ8MinBlocks>, grid, block, 0, stream, group, K / 32, xq, xd);
    } else if (stored_dtype == LMX_TYPE_Q6_K) {
        launch(mmv_q6k_kernel, grid, block, 0, stream, group, K / 32, xq, xd);
    }
}

void launch_mmv(int32_t stored_dtype, const void* w, size_t row_bytes, int64_t K, int64_t N,
                const float* x, float* y, cudaStream_t stream) {
    const dim3 block(32, kRowsPerBlock);
    const dim3 grid(grid_for(N, kRowsPerBlock, INT32_MAX));
    const auto* wb = static_cast<const uint8_t*>(w);
    const int64_t n_units = K / 32;
    switch (stored_dtype) {
        case LMX_TYPE_Q4_0:
            launch(mmv_quant_kernel<LMX_TYPE_Q4_0>, grid, block, 0, stream, wb, row_bytes, n_units, x, y, N);
            return;
        case LMX_TYPE_Q8_0:
            launch(mmv_quant_kernel<LMX_TYPE_Q8_0>, grid, block, 0, stream, wb, row_bytes, n_units, x, y, N);
            return;
        case LMX_TYPE_Q4_K:
            launch(mmv_quant_kernel<LMX_TYPE_Q4_K>, grid, block, 0, stream, wb, row_bytes, n_units, x, y, N);
            return;
        case LMX_TYPE_Q5_K:
            launch(mmv_quant_kernel<LMX_TYPE_Q5_K>, grid, block, 0, stream, wb, row_bytes, n_units, x, y, N);
            return;
        case LMX_TYPE_Q6_K:
            launch(mmv_quant_kernel<LMX_TYPE_Q6_K>, grid, block, 0, stream, wb, row_bytes, n_units, x, y, N);
            return;
        case LMX_TYPE_F16: {
            const auto* wh = static_cast<const __half*>(w);
            const bool vec = K % 8 == 0 && row_bytes % 16 == 0 && aligned16(w) && aligned16(x);
            if (vec) {
                launch(mmv_f16_kernel<true>, grid, block, 0, stream, wh, row_bytes / 2, K, x, y, N);
            } else {
                launch(mmv_f16_kernel<false>, grid, block, 0, stream, wh, row_bytes / 2, K, x, y, N);
            }
            return;
        }
        case LMX_TYPE_F32: {
            const auto* wf = static_cast<const float*>(w);
            const bool vec = K % 4 == 0 && row_bytes % 16 == 0 && aligned16(w) && aligned16(x);
            if (vec) {
                launch(mmv_f32_kernel<true>, grid, block, 0, stream, wf, row_bytes / 4, K, x, y, N);
            } else {
                launch(mmv_f32_kernel<false>, grid, block, 0, stream, wf, row_bytes / 4, K, x, y, N);
            }
            return;
        }
        default:
            return;  // refused by compile (mmv_supports)
    }
}

}  // namespace llamux::cuda
