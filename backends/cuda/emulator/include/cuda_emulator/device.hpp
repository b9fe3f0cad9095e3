// Device code on the CPU: the CUDA qualifiers, built-in variables, barriers, warp shuffles
// and the intrinsics the llamux kernels use, for the kernel files compiled as plain C++.
//
// Every thread of a block is a fiber (block_runner.cpp) on the host thread that launched
// the kernel; a fiber runs until it reaches a barrier (__syncthreads, a shuffle, a wmma
// operation), so the threads of a block interleave only there, in thread order. Exited
// threads leave the barriers they would have joined, as on the GPU. One kernel runs at a
// time in the process (launches from several host threads take turns), so the built-in
// variables and shared memory are plain globals.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// One instance serves every block: one kernel runs at a time in the process, and its blocks
// one after another.
#define __shared__ static
#define __align__(n) alignas(n)

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct alignas(8) float2 {
    float x, y;
};

struct alignas(16) float4 {
    float x, y, z, w;
};

struct alignas(16) uint4 {
    unsigned x, y, z, w;
};

inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

namespace cuemu {

// What a device thread sees of itself; set by the block runner before each resumption.
struct ThreadContext {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    unsigned lane;                // linear thread index % 32
    unsigned warp;                // linear thread index / 32
    uint64_t* warp_slots;         // 2 x 32 exchange slots of this thread's warp
    unsigned slot_set;            // which 32 the next exchange uses (0 or 1)
    unsigned char* dynamic_shared;
};

inline ThreadContext* g_current = nullptr;

inline ThreadContext& current() { return *g_current; }

// Suspends the calling device thread until every live thread of its block (sync_block) or
// of its warp (sync_warp) has arrived. A kernel whose threads wait at different barriers
// fails its launch with cudaErrorLaunchFailure (on a GPU it would hang).
void sync_block();
void sync_warp();

// The value of `src_lane`'s v (a lane of the caller's warp).
template <typename T>
T exchange(T v, unsigned src_lane) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t));
    // Exchanges alternate between two sets of slots: a lane that writes a set again has
    // passed the barrier of the exchange in between, which every lane reaches only after it
    // read that set. One barrier per exchange, not two.
    ThreadContext& t = current();
    uint64_t* const slots = t.warp_slots + 32 * t.slot_set;
    t.slot_set ^= 1u;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    slots[t.lane] = bits;
    sync_warp();
    const uint64_t got = slots[src_lane & 31u];
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace cuemu

// The built-in variables, as the running device thread sees them: the block runner sets
// them before it resumes each thread.
inline uint3 threadIdx;
inline uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

inline void __syncthreads() { cuemu::sync_block(); }

template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = 32) {
    const unsigned lane = cuemu::current().lane;
    const unsigned src = lane ^ static_cast<unsigned>(lane_mask);
    // A source outside the caller's segment of `width` lanes gives the caller's own value.
    const bool inside = src / static_cast<unsigned>(width) == lane / static_cast<unsigned>(width);
    return cuemu::exchange(v, inside ? src : lane);
}

template <typename T>
T __shfl_sync(unsigned /*mask*/, T v, int src_lane, int width = 32) {
    const unsigned lane = cuemu::current().lane;
    const auto w = static_cast<unsigned>(width);
    return cuemu::exchange(v, lane / w * w + static_cast<unsigned>(src_lane) % w);
}

// CUDA's global min and max of two numbers (mixed types promote as in CUDA's overloads).
template <typename A, typename B, typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
std::common_type_t<A, B> min(A a, B b) {
    using T = std::common_type_t<A, B>;
    return static_cast<T>(b) < static_cast<T>(a) ? static_cast<T>(b) : static_cast<T>(a);
}
template <typename A, typename B, typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
std::common_type_t<A, B> max(A a, B b) {
    using T = std::common_type_t<A, B>;
    return static_cast<T>(a) < static_cast<T>(b) ? static_cast<T>(b) : static_cast<T>(a);
}

template <typename T>
T __ldg(const T* p) {
    return *p;
}

// Global memory across blocks: blocks run one after another and the threads of a block
// interleave only at barriers, so a plain read-modify-write is atomic here, every write is
// visible to later reads without a fence, and no load can see a stale cache line.
inline unsigned atomicAdd(unsigned* p, unsigned v) {
    const unsigned old = *p;
    *p = old + v;
    return old;
}
inline void __threadfence() {}
template <typename T>
T __ldcg(const T* p) {
    return *p;
}

// __dp4a, __vsub4 and __funnelshift_rc need no stand-ins: cuda_int8_dot.cuh calls them only
// under __CUDA_ARCH__ and has host twins, which the emulated kernels use.
//
// The _rn intrinsics exist so that nvcc does not contract them into FMAs; the emulator is
// compiled without contraction (-ffp-contract=off), so plain operators round the same way.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline int __float2int_rn(float v) { return static_cast<int>(std::nearbyint(v)); }
