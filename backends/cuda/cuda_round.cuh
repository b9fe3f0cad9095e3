// One block of activations rounded the way the reference rounds them (see
// cuda_activations.cu for the formulas), by one warp: the shared core of the rounding
// kernel and of the kernels that round their own output for the next matmul (rms_norm,
// SwiGLU: cuda_program.cpp's fusions).
#pragma once

#include <climits>

#include "cuda_common.cuh"
#include "cuda_kernels.hpp"

namespace llamux::cuda {

// Largest |v| over the warp and the lowest lane holding it.
__device__ __forceinline__ void warp_argmax_abs(float& amax, int& idx) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float a = __shfl_xor_sync(0xffffffffu, amax, o);
        const int i = __shfl_xor_sync(0xffffffffu, idx, o);
        if (a > amax || (a == amax && i < idx)) {
            amax = a;
            idx = i;
        }
    }
}

// Rounds block g (kBlock elements; lane l holds elements l * kPer .. l * kPer + kPer - 1 in
// v, so "first index" order is lane order, then position) and writes it in form kOut at
// element e0 of `out` (v[0]'s element; scales[g] for ActOut::Q8). Every lane of the warp
// calls it.
template <int kBlock, ActOut kOut>
__device__ __forceinline__ void round_block_warp(const float (&v)[kBlock / 32], int lane, int64_t e0, int64_t g,
                                                 void* __restrict__ out, float* __restrict__ scales) {
    constexpr int kPer = kBlock / 32;
    float amax = 0.0f;
    int idx = 0;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
        if (fabsf(v[i]) > amax) {
            amax = fabsf(v[i]);
            idx = lane * kPer + i;
        }
    }
    if (amax == 0.0f) idx = INT_MAX;  // a lane of zeros holds no maximum
    warp_argmax_abs(amax, idx);
    int q[kPer];
    float d = 0.0f;
    if constexpr (kBlock == 32) {
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        d = __half2float(__float2half_rn(amax / 127.0f));
#pragma unroll
        for (int i = 0; i < kPer; ++i) q[i] = __float2int_rn(v[i] * id);
    } else {
        // The signed maximum: element idx (the same on every lane after the reduction),
        // position idx % kPer of lane idx / kPer.
        const int at = idx == INT_MAX ? 0 : idx;
        float sel = v[0];
#pragma unroll
        for (int i = 1; i < kPer; ++i) {
            if (at % kPer == i) sel = v[i];
        }
        const float mx = __shfl_sync(0xffffffffu, sel, at / kPer);
        if (amax == 0.0f) {
#pragma unroll
            for (int i = 0; i < kPer; ++i) q[i] = 0;
            d = 0.0f;
        } else {
            const float iscale = -127.0f / mx;
#pragma unroll
            for (int i = 0; i < kPer; ++i) q[i] = min(127, __float2int_rn(iscale * v[i]));
            d = 1.0f / iscale;
        }
    }
    if constexpr (kOut == ActOut::F16) {
        auto* o = static_cast<__half*>(out) + e0;
#pragma unroll
        for (int i = 0; i < kPer; ++i) o[i] = __float2half_rn(d * static_cast<float>(q[i]));
    } else if constexpr (kOut == ActOut::F32) {
        auto* o = static_cast<float*>(out) + e0;
#pragma unroll
        for (int i = 0; i < kPer; ++i) o[i] = d * static_cast<float>(q[i]);
    } else {
        auto* o = static_cast<int8_t*>(out) + e0;
#pragma unroll
        for (int i = 0; i < kPer; ++i) o[i] = static_cast<int8_t>(q[i]);
        if (lane == 0) scales[g] = d;
    }
}

// Q8_0 rounding of a row held in four-element pieces, piece f (elements 4f .. 4f + 3) in
// lane f % 32 of a warp: the eight lanes of a 32-element block share its maximum by
// shuffles, then each writes its four quants as one word (and the block's first its scale)
// at piece f of `round` (round.q and round.scales as for one row). Every lane of the warp
// calls it; `valid` is false for pieces past the row's end, which come in whole blocks.
// The formulas are round_block_warp's for Q8_0, so the values are the same.
__device__ __forceinline__ void round_q8_0_piece(const float4& o, int64_t f, bool valid, const RoundTarget& round) {
    float amax = fmaxf(fmaxf(fabsf(o.x), fabsf(o.y)), fmaxf(fabsf(o.z), fabsf(o.w)));
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, m));
    if (!valid) return;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const auto q = [id](float v) { return static_cast<uint32_t>(__float2int_rn(v * id)) & 0xFFu; };
    static_cast<uint32_t*>(round.q)[f] = q(o.x) | q(o.y) << 8 | q(o.z) << 16 | q(o.w) << 24;
    if ((f & 7) == 0) round.scales[f / 8] = __half2float(__float2half_rn(amax / 127.0f));
}

// Q8_K rounding of a row held in four-element pieces as in round_q8_0_piece, but a
// 256-element block spans 64 pieces, two warps: piece f in lane f % 32 of the block-local
// warp `warp`, even for a block's first 32 pieces and odd (warp + 1) for the rest. Each warp
// finds its own signed maximum (largest magnitude, first index) by shuffles; the pair swaps
// theirs through `exchange` (one float2 per warp of the block: magnitude, signed value), the
// even warp, whose indices are lower, winning ties. The formulas are round_block_warp's for
// Q8_K. Synchronises the block: every thread calls it the same number of times, and calls
// in a row alternate between two `exchange` arrays (a call's writes may not land while a
// slower warp still reads the previous call's).
__device__ __forceinline__ void round_q8_k_piece(const float4& o, int64_t f, bool valid, int warp,
                                                 float2* exchange, const RoundTarget& round) {
    const int lane = static_cast<int>(f & 31);
    const float e[4] = {o.x, o.y, o.z, o.w};
    float amax = 0.0f;
    int idx = INT_MAX;  // a lane of zeros holds no maximum
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        if (fabsf(e[i]) > amax) {
            amax = fabsf(e[i]);
            idx = lane * 4 + i;
        }
    }
    warp_argmax_abs(amax, idx);
    const int at = idx == INT_MAX ? 0 : idx;
    const float mine = at % 4 == 0 ? e[0] : at % 4 == 1 ? e[1] : at % 4 == 2 ? e[2] : e[3];
    const float signed_max = __shfl_sync(0xffffffffu, mine, at / 4);
    if (lane == 0) exchange[warp] = make_float2(amax, signed_max);
    __syncthreads();
    const float2 low = exchange[warp & ~1], high = exchange[warp | 1];
    const float2 m = high.x > low.x ? high : low;
    if (!valid) return;
    uint32_t word = 0;
    float d = 0.0f;
    if (m.x != 0.0f) {
        const float iscale = -127.0f / m.y;
        const auto q = [iscale](float v) { return static_cast<uint32_t>(min(127, __float2int_rn(iscale * v))) & 0xFFu; };
        word = q(o.x) | q(o.y) << 8 | q(o.z) << 16 | q(o.w) << 24;
        d = 1.0f / iscale;
    }
    static_cast<uint32_t*>(round.q)[f] = word;
    if ((f & 63) == 0) round.scales[f / 64] = d;
}

}  // namespace llamux::cuda
