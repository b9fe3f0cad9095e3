// The arithmetic of the CUDA plugin's int8 matrix-vector kernels (backends/cuda/
// cuda_int8_dot.cuh), compiled for the host, against the reference dot products. Runs on
// every machine, GPU or not: what a GPU run adds (test_cuda_backend) is only the spread of
// items over lanes and the warp's sum.
//
// For each weight type the kernels read this way, a row of random weights (quantize_row_ref)
// and activations rounded as the reference rounds them (Q8_0 / Q8_K), the row split into
// the kernels' inputs: int8 quants xq (16-byte aligned) and one float scale per block xd.
//   - Q4_0 and Q8_0: every block's value equals the reference's one-block dot bit for bit
//     (same integer sum, same float operations in the same order).
//   - Q4_K, Q5_K, Q6_K: the items of a super-block (four pairs of sub-blocks, eight units)
//     sum to the reference's super-block dot within the kernel bound of quant_rows.hpp
//     (the reference multiplies by the scales once per super-block).
//   - the whole row (items summed in order) against vec_dot_ref, within the same bound.
//   - rows split into bodies and scales (cuda_stored_types.hpp): Q4_0, Q8_0 and Q6_K items
//     bit for bit the file layout's, Q4_K's and Q5_K's (single sub-blocks) within the bound.
// Rows start 0 or 2 bytes past a 4-byte boundary (Q4_0, Q8_0 and Q6_K are read as the
// aligned words around each block) and 16-byte aligned for Q4_K/Q5_K, as on the GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_int8_dot.cuh"
#include "llamux/dtype.hpp"
#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref.hpp"
#include "quant_rows.hpp"

namespace llamux::cuda::int8dot {
namespace {

// The activation row as the kernels get it.
struct Int8Activations {
    std::vector<uint8_t> storage;
    int8_t* xq = nullptr;  // K quants, 16-byte aligned
    std::vector<float> xd;  // one scale per block (32 for Q8_0, 256 for Q8_K)
};

Int8Activations split(DType at, const void* a, int64_t K) {
    Int8Activations r;
    r.storage.assign(static_cast<size_t>(K) + 16, 0);
    const auto base = reinterpret_cast<uintptr_t>(r.storage.data());
    r.xq = reinterpret_cast<int8_t*>(r.storage.data() + (16 - base % 16) % 16);
    if (at == DType::Q8_0) {
        const auto* blocks = static_cast<const BlockQ8_0*>(a);
        for (int64_t b = 0; b < K / 32; ++b) {
            std::memcpy(r.xq + 32 * b, blocks[b].qs, 32);
            r.xd.push_back(f16_to_f32(blocks[b].d));
        }
    } else {
        const auto* blocks = static_cast<const BlockQ8_K*>(a);
        for (int64_t b = 0; b < K / 256; ++b) {
            std::memcpy(r.xq + 256 * b, blocks[b].qs, 256);
            r.xd.push_back(blocks[b].d);
        }
    }
    return r;
}

// Item i of a row of n_items through the kernels' two steps.
template <int T>
float item(const uint8_t* row, int64_t n_items, int64_t i, const Int8Activations& x) {
    typename Kind<T>::Loaded ld{};
    load(row, n_items, i, x.xq, x.xd.data(), ld);
    return compute(ld);
}

template <int T>
float items(const uint8_t* row, int64_t n_items, int64_t first, int64_t count, const Int8Activations& x) {
    float sum = 0.0f;
    for (int64_t i = first; i < first + count; ++i) sum += item<T>(row, n_items, i, x);
    return sum;
}

using Param = std::tuple<DType, int64_t /*blocks*/, size_t /*misalign*/>;

class CudaInt8Dot : public ::testing::TestWithParam<Param> {};

template <int T>
void check_row(DType t, int64_t n_blocks, size_t misalign) {
    const int64_t block = info(t).block_size;
    const int64_t K = n_blocks * block;
    const DType at = vec_dot_type(t);
    std::mt19937 rng(static_cast<uint32_t>(1000 * n_blocks + misalign + static_cast<int>(t)));
    const test::Row w = test::make_row(t, test::random_row(rng, K), misalign);
    const test::Row a = test::make_row(at, test::random_row(rng, K), 0, /*act=*/true);
    const Int8Activations x = split(at, a.data(), K);
    const auto* row = static_cast<const uint8_t*>(w.data());
    const size_t wb = row_bytes(t, block).value(), ab = row_bytes(at, block).value();
    const int64_t per_block = block / Kind<T>::kItemElems;
    const int64_t n_items = K / Kind<T>::kItemElems;

    for (int64_t b = 0; b < n_blocks; ++b) {
        const void* wblk = row + b * wb;
        const void* ablk = static_cast<const uint8_t*>(a.data()) + b * ab;
        const float expected = vec_dot_ref(t, block, wblk, ablk);
        const float got = items<T>(row, n_items, b * per_block, per_block, x);
        if (t == DType::Q4_0 || t == DType::Q8_0) {
            EXPECT_EQ(got, expected) << "block " << b;
        } else {
            const double bound = test::kRelBound * test::magnitude(t, wblk, at, ablk, block);
            EXPECT_NEAR(got, expected, bound) << "super-block " << b;
        }
    }
    const float expected = vec_dot_ref(t, K, row, a.data());
    const float got = items<T>(row, n_items, 0, n_items, x);
    EXPECT_NEAR(got, expected, test::kRelBound * test::magnitude(t, row, at, a.data(), K)) << "whole row";
}

TEST_P(CudaInt8Dot, MatchesReference) {
    const auto [t, n_blocks, misalign] = GetParam();
    switch (t) {
        case DType::Q4_0: return check_row<LMX_TYPE_Q4_0>(t, n_blocks, misalign);
        case DType::Q8_0: return check_row<LMX_TYPE_Q8_0>(t, n_blocks, misalign);
        case DType::Q4_K: return check_row<LMX_TYPE_Q4_K>(t, n_blocks, misalign);
        case DType::Q5_K: return check_row<LMX_TYPE_Q5_K>(t, n_blocks, misalign);
        case DType::Q6_K: return check_row<LMX_TYPE_Q6_K>(t, n_blocks, misalign);
        default: FAIL() << "no int8 kernel for " << dtype_name(t);
    }
}

std::string param_name(const ::testing::TestParamInfo<Param>& p) {
    return std::string(dtype_name(std::get<0>(p.param))) + "_" + std::to_string(std::get<1>(p.param)) +
           "blocks_misalign" + std::to_string(std::get<2>(p.param));
}

// 1, 3, 7 and 43 blocks (43 super-blocks: a row of 11008, the 7B FFN width); rows starting
// 0 or 2 bytes past a word boundary for the types read as aligned words.
INSTANTIATE_TEST_SUITE_P(WordAligned, CudaInt8Dot,
                         ::testing::Combine(::testing::Values(DType::Q4_0, DType::Q8_0, DType::Q6_K),
                                            ::testing::Values(int64_t{1}, int64_t{3}, int64_t{7}, int64_t{43}),
                                            ::testing::Values(size_t{0}, size_t{1})),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Aligned16, CudaInt8Dot,
                         ::testing::Combine(::testing::Values(DType::Q4_K, DType::Q5_K),
                                            ::testing::Values(int64_t{1}, int64_t{3}, int64_t{7}, int64_t{43}),
                                            ::testing::Values(size_t{0})),
                         param_name);

// The same rows split (cuda_stored_types.hpp) as prepare_weight uploads them, at a 16-byte
// boundary, the padding zeroed. Where the items are the file layout's (Q4_0, Q8_0, Q6_K),
// each one's value bit for bit the file layout's (the same arithmetic on the same bytes);
// split Q4_K and Q5_K (one sub-block per item, the file's items are pairs): each
// super-block's items within the kernel bound of the reference's dot. The whole row within
// that bound too.
template <int S>
void check_split_row(int64_t n_blocks) {
    constexpr int F = blocks_type(S);
    const auto t = static_cast<DType>(F);
    const DType at = vec_dot_type(t);
    const int64_t block = split_block_elems(S), K = n_blocks * block;
    std::mt19937 rng(static_cast<uint32_t>(77 * n_blocks + S));
    const test::Row w = test::make_row(t, test::random_row(rng, K), 0);
    const test::Row a = test::make_row(at, test::random_row(rng, K), 0, /*act=*/true);
    const Int8Activations x = split(at, a.data(), K);
    const size_t bytes = split_row_bytes(S, n_blocks);
    ASSERT_EQ(bytes % 16, 0u);
    std::vector<uint8_t> storage(bytes + 16, 0xAB);
    uint8_t* row = storage.data() + (16 - reinterpret_cast<uintptr_t>(storage.data()) % 16) % 16;
    const auto* file_row = static_cast<const uint8_t*>(w.data());
    split_row(S, file_row, n_blocks, row);
    const size_t used = row_bytes(t, K).value();
    for (size_t i = used; i < bytes; ++i) EXPECT_EQ(row[i], 0) << "padding byte " << i;

    const int64_t n_items = K / Kind<S>::kItemElems;
    if constexpr (Kind<S>::kItemElems == Kind<F>::kItemElems) {
        for (int64_t i = 0; i < n_items; ++i) {
            EXPECT_EQ(item<S>(row, n_items, i, x), item<F>(file_row, n_items, i, x)) << "item " << i;
        }
    } else {
        const size_t wb = row_bytes(t, block).value(), ab = row_bytes(at, block).value();
        const int64_t per_block = block / Kind<S>::kItemElems;
        for (int64_t b = 0; b < n_blocks; ++b) {
            const uint8_t* wblk = file_row + b * wb;
            const auto* ablk = static_cast<const uint8_t*>(a.data()) + b * ab;
            EXPECT_NEAR(items<S>(row, n_items, b * per_block, per_block, x), vec_dot_ref(t, block, wblk, ablk),
                        test::kRelBound * test::magnitude(t, wblk, at, ablk, block))
                << "super-block " << b;
        }
    }
    EXPECT_NEAR(items<S>(row, n_items, 0, n_items, x), vec_dot_ref(t, K, file_row, a.data()),
                test::kRelBound * test::magnitude(t, file_row, at, a.data(), K))
        << "whole row";
}

class CudaInt8DotSplit : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaInt8DotSplit, Q4_0MatchesFileLayout) { check_split_row<kStoredQ4_0Split>(GetParam()); }
TEST_P(CudaInt8DotSplit, Q8_0MatchesFileLayout) { check_split_row<kStoredQ8_0Split>(GetParam()); }
TEST_P(CudaInt8DotSplit, Q6_KMatchesFileLayout) { check_split_row<kStoredQ6_KSplit>(GetParam()); }
TEST_P(CudaInt8DotSplit, Q4_KMatchesReference) { check_split_row<kStoredQ4_KSplit>(GetParam()); }
TEST_P(CudaInt8DotSplit, Q5_KMatchesReference) { check_split_row<kStoredQ5_KSplit>(GetParam()); }

// 1, 3 and 7 blocks (Q4_0 / Q8_0: scales ending inside a 16-byte word, so padded), 8 (none),
// 43 (the K-quants: a row of 11008).
INSTANTIATE_TEST_SUITE_P(Blocks, CudaInt8DotSplit,
                         ::testing::Values(int64_t{1}, int64_t{3}, int64_t{7}, int64_t{8}, int64_t{43}));

// The host twins of the intrinsics, on values whose device results are known.
TEST(CudaInt8DotIntrinsics, HostTwins) {
    EXPECT_EQ(dot4(0x01FF7F80, 0x02030405, 10), 10 + 1 * 2 + (-1) * 3 + 127 * 4 + (-128) * 5);
    EXPECT_EQ(funnel_right(0x11223344u, 0xAABBCCDDu, 0), 0x11223344u);
    EXPECT_EQ(funnel_right(0x11223344u, 0xAABBCCDDu, 16), 0xCCDD1122u);
    EXPECT_EQ(funnel_right(0x11223344u, 0xAABBCCDDu, 32), 0xAABBCCDDu);
    EXPECT_EQ(sub_bytes(0x00102030u, 0x20202020u), 0xE0F00010u);
}

}  // namespace
}  // namespace llamux::cuda::int8dot
