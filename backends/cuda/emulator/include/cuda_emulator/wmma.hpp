// nvcuda::wmma on the CPU, for 16 x 16 x 16 tiles: every lane of a warp holds the whole
// tile and computes the whole product (the GPU spreads both over the warp), so a fragment's
// elements are not laid out as on the GPU and kernels must not index them. Loads, stores
// and products are warp barriers, as their _sync names promise.
#pragma once

#include <cstddef>

#include "cuda_emulator/device.hpp"
#include "cuda_emulator/half.hpp"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K>
struct tile_shape;
template <int M, int N, int K>
struct tile_shape<matrix_a, M, N, K> {
    static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct tile_shape<matrix_b, M, N, K> {
    static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct tile_shape<accumulator, M, N, K> {
    static constexpr int rows = M, cols = N;
};

// x holds the tile row-major, whatever the layout it was loaded from.
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static constexpr int rows = tile_shape<Use, M, N, K>::rows;
    static constexpr int cols = tile_shape<Use, M, N, K>::cols;
    static constexpr int num_elements = rows * cols;
    T x[num_elements];
};

inline float to_float(float v) { return v; }
inline float to_float(__half v) { return __half2float(v); }

template <typename Use, int M, int N, int K, typename T, typename Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, T v) {
    for (auto& e : f.x) e = v;
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
    ::cuemu::sync_warp();
    using F = fragment<Use, M, N, K, T, Layout>;
    for (int r = 0; r < F::rows; ++r) {
        for (int c = 0; c < F::cols; ++c) {
            const size_t at = std::is_same_v<Layout, col_major> ? static_cast<size_t>(c) * ldm + r
                                                                  : static_cast<size_t>(r) * ldm + c;
            f.x[r * F::cols + c] = p[at];
        }
    }
}

template <int M, int N, int K, typename T>
void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T>& f, unsigned ldm, layout_t layout) {
    ::cuemu::sync_warp();
    for (int r = 0; r < M; ++r) {
        for (int c = 0; c < N; ++c) {
            const size_t at = layout == mem_col_major ? static_cast<size_t>(c) * ldm + r
                                                      : static_cast<size_t>(r) * ldm + c;
            p[at] = f.x[r * N + c];
        }
    }
}

// d = a b + c, accumulated in float; d may be c.
template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB, typename TC>
void mma_sync(fragment<accumulator, M, N, K, TC>& d, const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TB, LB>& b, const fragment<accumulator, M, N, K, TC>& c) {
    ::cuemu::sync_warp();
    float out[M * N];
    for (int i = 0; i < M; ++i) {
        for (int j = 0; j < N; ++j) {
            float acc = to_float(c.x[i * N + j]);
            for (int k = 0; k < K; ++k) acc += to_float(a.x[i * K + k]) * to_float(b.x[k * N + j]);
            out[i * N + j] = acc;
        }
    }
    for (int i = 0; i < M * N; ++i) d.x[i] = out[i];
}

}  // namespace nvcuda::wmma
