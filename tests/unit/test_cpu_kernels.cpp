// The CPU plugin's dot-product kernels (backends/cpu/kernels) against graph's scalar twins,
// for every weight type and every instruction set this machine has:
//   - vec_dot vs vec_dot_ref on random rows of awkward lengths;
//   - tile vs vec_dot_ref for every nr, nc in 1..kTileMax;
//   - gemm (16 x 16 block kernels: AMX, AVX-512, AVX2) vs vec_dot_ref for several row and
//     column counts, and the widened BF16 kernel where the CPU takes vdpbf16ps instead;
//   - the GEMV (one column and a few), and gemm on repacked weights vs vec_dot_ref;
//   - from_float writes the same bytes as quantize_activation_row_ref (the reference
//     matmul's activation conversion: quantize_row_ref except for Q8_0's rounding);
//   - the block axpy of quantized V caches vs dequantize_row_ref and a multiply-add per value.
//
// Error bound: |fast - ref| <= kRelBound * S, S = sum |w_i| |a_i| (tests/support/quant_rows.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/kernels.hpp"
#include "kernels/kernels_internal.hpp"
#include "llamux/dtype.hpp"
#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"
#include "quant_rows.hpp"

namespace llamux::cpu {
namespace {

using test::kRelBound;
using test::magnitude;
using test::make_row;
using test::random_row;
using test::Row;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                              DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};
const Isa kIsas[] = {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Amx};

// Row lengths: whole numbers of blocks, 1, 2, 3, 7 and 13 blocks for the block types; for
// the plain types lengths around every vector width and unroll factor.
std::vector<int64_t> lengths_for(DType t) {
    const int64_t bs = info(t).block_size;
    if (bs > 1) return {bs, 2 * bs, 3 * bs, 7 * bs, 13 * bs};
    return {1, 2, 3, 7, 8, 13, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1000, 4099};
}

using Param = std::tuple<DType, Isa>;

class CpuKernels : public ::testing::TestWithParam<Param> {
protected:
    void SetUp() override {
        type_ = std::get<0>(GetParam());
        isa_ = std::get<1>(GetParam());
        if (static_cast<int>(isa_) > static_cast<int>(detect_isa())) {
            GTEST_SKIP() << isa_name(isa_) << " not available (detect_isa: "
                         << isa_name(detect_isa()) << ")";
        }
        k_ = kernels_for(type_, isa_);
        ASSERT_NE(k_, nullptr);
        act_ = vec_dot_type(type_);
    }
    DType type_{};
    Isa isa_{};
    DType act_{};
    const TypeKernels* k_ = nullptr;
};

TEST_P(CpuKernels, TableEntry) {
    EXPECT_EQ(k_->weight, type_);
    EXPECT_EQ(k_->activation, act_);
    EXPECT_NE(k_->vec_dot, nullptr);
    EXPECT_NE(k_->tile, nullptr);
    EXPECT_EQ(k_->from_float == nullptr, act_ == DType::F32);
    EXPECT_LE(static_cast<int>(k_->isa), static_cast<int>(isa_));
    // A gemm on repacked rows needs the repacked layout (and its byte offsets).
    if (k_->packed_gemm != nullptr) {
        EXPECT_NE(k_->packed_gemv, nullptr);
    }
}

TEST_P(CpuKernels, VecDotMatchesReference) {
    std::mt19937 rng(1234u + static_cast<unsigned>(type_));
    for (const int64_t n : lengths_for(type_)) {
        for (int rep = 0; rep < 8; ++rep) {
            const Row w = make_row(type_, random_row(rng, n), static_cast<size_t>(rep % 3));
            const Row a = make_row(act_, random_row(rng, n), static_cast<size_t>(rep % 5), true);
            const float ref = vec_dot_ref(type_, n, w.data(), a.data());
            const float got = k_->vec_dot(n, w.data(), a.data());
            const double bound = kRelBound * magnitude(type_, w.data(), act_, a.data(), n);
            ASSERT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(ref)), bound)
                << "n=" << n << " rep=" << rep << " ref=" << ref << " got=" << got;
        }
    }
}

// Extreme quants: every weight quant at its largest or smallest value and activations at
// +-127, so any int16 saturation or overflow in a kernel would show.
TEST_P(CpuKernels, VecDotExtremes) {
    std::mt19937 rng(99u + static_cast<unsigned>(type_));
    const int64_t n = 7 * info(type_).block_size * (info(type_).block_size > 1 ? 1 : 64);
    for (int rep = 0; rep < 6; ++rep) {
        std::vector<float> xw(static_cast<size_t>(n)), xa(static_cast<size_t>(n));
        std::bernoulli_distribution coin(0.5);
        for (size_t i = 0; i < xw.size(); ++i) {
            const bool sw = rep < 2 ? true : coin(rng);
            const bool sa = rep % 2 == 0 ? sw : coin(rng);
            xw[i] = sw ? 1.0f : -1.0f;
            xa[i] = sa ? 1.0f : -1.0f;
        }
        const Row w = make_row(type_, xw, 0);
        const Row a = make_row(act_, xa, 1, true);
        const float ref = vec_dot_ref(type_, n, w.data(), a.data());
        const float got = k_->vec_dot(n, w.data(), a.data());
        const double bound = kRelBound * magnitude(type_, w.data(), act_, a.data(), n);
        ASSERT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(ref)), bound)
            << "rep=" << rep << " ref=" << ref << " got=" << got;
    }
}

// Checks dst[c * ldd + r] of a tile or gemm result: the scalar twin (vec_dot_ref) of weight
// row r and column c within the bound for r < nr, c < nc; the sentinel kUnwritten elsewhere
// in c < cols.
constexpr float kUnwritten = -12345.0f;
struct Product {
    DType type, act;
    int64_t n;
    const uint8_t* w;
    size_t w_stride;
    const uint8_t* a;
    size_t a_stride;
};
::testing::AssertionResult matches_ref(const Product& p, const std::vector<float>& dst,
                                           size_t ldd, int64_t nr, int64_t nc, int64_t cols) {
    for (int64_t c = 0; c < cols; ++c) {
        for (size_t r = 0; r < ldd; ++r) {
            const float got = dst[static_cast<size_t>(c) * ldd + r];
            if (c >= nc || r >= static_cast<size_t>(nr)) {
                if (got != kUnwritten) {
                    return ::testing::AssertionFailure()
                           << "wrote outside: nr=" << nr << " nc=" << nc << " r=" << r << " c=" << c;
                }
                continue;
            }
            const void* wr = p.w + r * p.w_stride;
            const void* ar = p.a + static_cast<size_t>(c) * p.a_stride;
            const float want = vec_dot_ref(p.type, p.n, wr, ar);
            const double bound = kRelBound * magnitude(p.type, wr, p.act, ar, p.n);
            if (!(std::fabs(static_cast<double>(got) - want) <= bound)) {
                return ::testing::AssertionFailure()
                       << "n=" << p.n << " nr=" << nr << " nc=" << nc << " r=" << r << " c=" << c
                       << " want=" << want << " got=" << got << " bound=" << bound;
            }
        }
    }
    return ::testing::AssertionSuccess();
}

TEST_P(CpuKernels, TileMatchesReference) {
    std::mt19937 rng(777u + static_cast<unsigned>(type_));
    const int64_t bs = info(type_).block_size;
    for (const int64_t n : {bs > 1 ? bs : int64_t{37}, bs > 1 ? 3 * bs : int64_t{300}}) {
        const size_t wb = row_bytes(type_, n).value();
        const size_t ab = row_bytes(act_, n).value();
        const size_t w_stride = wb + 12;  // padded rows, not 16-byte aligned
        const size_t a_stride = ab + 4;
        std::vector<uint8_t> w(w_stride * kTileMax + 4), a(a_stride * kTileMax + 4);
        for (int r = 0; r < kTileMax; ++r) {
            const std::vector<float> x = random_row(rng, n);
            quantize_row_ref(type_, x.data(), w.data() + 4 + static_cast<size_t>(r) * w_stride, n);
        }
        for (int c = 0; c < kTileMax; ++c) {
            const std::vector<float> x = random_row(rng, n);
            quantize_activation_row_ref(act_, x.data(), a.data() + 4 + static_cast<size_t>(c) * a_stride, n);
        }
        const Product p{type_, act_, n, w.data() + 4, w_stride, a.data() + 4, a_stride};
        for (int nr = 1; nr <= kTileMax; ++nr) {
            for (int nc = 1; nc <= kTileMax; ++nc) {
                const size_t ldd = static_cast<size_t>(nr) + 2;
                std::vector<float> dst(ldd * kTileMax, kUnwritten);
                k_->tile(n, w.data() + 4, w_stride, a.data() + 4, a_stride, dst.data(), ldd, nr,
                         nc);
                ASSERT_TRUE(matches_ref(p, dst, ldd, nr, nc, kTileMax));
            }
        }
    }
}

// Random operands for the multi-row kernels: `rows` weight rows (quantize_row_ref) and
// `cols` activation columns (the set's from_float), 4 bytes into buffers with padded,
// unaligned strides, as tensor views have.
struct Operands {
    size_t w_stride, a_stride;
    std::vector<uint8_t> w, a;
    const uint8_t* wp() const { return w.data() + 4; }
    const uint8_t* ap() const { return a.data() + 4; }
};
Operands random_operands(std::mt19937& rng, const TypeKernels& k, int64_t n, int64_t rows,
                         int64_t cols) {
    Operands o;
    o.w_stride = row_bytes(k.weight, n).value() + 6;
    o.a_stride = row_bytes(k.activation, n).value() + 4;
    o.w.assign(o.w_stride * static_cast<size_t>(rows) + 4, 0);
    o.a.assign(o.a_stride * static_cast<size_t>(cols) + 4, 0);
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<float> x = random_row(rng, n);
        quantize_row_ref(k.weight, x.data(), o.w.data() + 4 + static_cast<size_t>(r) * o.w_stride, n);
    }
    for (int64_t c = 0; c < cols; ++c) {
        const std::vector<float> x = random_row(rng, n);
        k.from_float(x.data(), o.a.data() + 4 + static_cast<size_t>(c) * o.a_stride, n);
    }
    return o;
}

// A block kernel g for the weight type of k (k's from_float converts the activations).
void check_gemm(const TypeKernels& k, const GemmKernels& g) {
    const DType type = k.weight;
    std::mt19937 rng(991u + static_cast<unsigned>(type));
    const int64_t bs = info(type).block_size;
    constexpr int64_t kMaxRows = 3 * kGemmBlock, kMaxGroups = 3;
    // Plain types: lengths around the kernels' steps of 32 elements too.
    const std::vector<int64_t> lengths = bs > 1 ? std::vector<int64_t>{bs, 3 * bs, 13 * bs}
                                                : std::vector<int64_t>{1, 3, 13, 31, 32, 33, 64, 100, 257};
    for (const int64_t n : lengths) {
        const Operands o = random_operands(rng, k, n, kMaxRows, kMaxGroups * kGemmBlock);
        const size_t w_stride = o.w_stride, a_stride = o.a_stride;
        const size_t group_stride = g.group_bytes(n) + 64;
        std::vector<uint8_t> groups(group_stride * kMaxGroups);
        for (int64_t j = 0; j < kMaxGroups; ++j) {
            g.pack(n, o.ap() + static_cast<size_t>(j * kGemmBlock) * a_stride, a_stride,
                   groups.data() + static_cast<size_t>(j) * group_stride);
        }
        std::vector<uint8_t> scratch(g.scratch_bytes(n));
        const Product p{type, k.activation, n, o.wp(), w_stride, o.ap(), a_stride};
        for (const int64_t nr : {int64_t{kGemmBlock}, kMaxRows}) {
            for (int64_t ng = 1; ng <= kMaxGroups; ++ng) {
                const size_t ldd = static_cast<size_t>(nr) + 3;
                std::vector<float> dst(ldd * kMaxGroups * kGemmBlock, kUnwritten);
                g.gemm(n, o.wp(), w_stride, nr, groups.data(), group_stride, ng,
                       dst.data(), ldd, scratch.data());
                ASSERT_TRUE(matches_ref(p, dst, ldd, nr, ng * kGemmBlock,
                                            kMaxGroups * kGemmBlock));
            }
        }
    }
}

TEST_P(CpuKernels, GemmMatchesReference) {
    if (k_->gemm == nullptr) GTEST_SKIP() << "no block (gemm) kernel for this type and set";
    check_gemm(*k_, *k_->gemm);
}

// CPUs with AVX512_BF16 take vdpbf16ps products for BF16 (GemmMatchesReference tests those);
// the widened kernel, for AVX-512 CPUs without it, is tested here too.
TEST(CpuKernelsAvx512, WidenedBf16GemmMatchesReference) {
    if (static_cast<int>(detect_isa()) < static_cast<int>(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
    check_gemm(*kernels_for(DType::BF16, Isa::Avx512), bf16_gemm_avx512);
}

TEST(CpuKernelsAvx512, Bf16GemmUsesVdpbf16psWhereTheCpuHasIt) {
    if (static_cast<int>(detect_isa()) < static_cast<int>(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
    const GemmKernels* want = has_avx512_bf16() ? &bf16_dot_gemm_avx512 : &bf16_gemm_avx512;
    EXPECT_EQ(kernels_for(DType::BF16, Isa::Avx512)->gemm, want);
}

TEST_P(CpuKernels, PackedGemvMatchesReference) {
    if (k_->packed_gemv == nullptr) GTEST_SKIP() << "no repacked form for this type and set";
    const PackedGemvKernels& pk = *k_->packed_gemv;
    std::mt19937 rng(1234u + static_cast<unsigned>(type_));
    const int64_t bs = info(type_).block_size;
    constexpr int64_t kRowsMax = 9 * kPackedRows;  // enough groups for interleaved streams
    for (const int64_t n : {bs, 3 * bs, 13 * bs}) {
        constexpr int64_t kCols = 6;  // the few-columns variant: one pass of 4, one of 2
        const Operands o = random_operands(rng, *k_, n, kRowsMax, kCols);
        std::vector<uint8_t> packed(pk.bytes(n, kRowsMax) + 64);
        auto* aligned = reinterpret_cast<void*>(
            (reinterpret_cast<uintptr_t>(packed.data()) + 63) / 64 * 64);
        pk.repack(n, o.wp(), o.w_stride, kRowsMax, aligned);
        for (const auto& [g0, g1] : {std::pair<int64_t, int64_t>{0, 9}, {1, 8}, {2, 3}, {4, 9}}) {
            std::vector<float> y(kRowsMax, kUnwritten);
            pk.gemv(n, aligned, g0, g1, o.ap(), y.data());
            for (int64_t r = 0; r < kRowsMax; ++r) {
                const float got = y[static_cast<size_t>(r)];
                if (r < g0 * kPackedRows || r >= g1 * kPackedRows) {
                    ASSERT_EQ(got, kUnwritten) << "wrote outside groups " << g0 << ".." << g1;
                    continue;
                }
                const void* wr = o.wp() + static_cast<size_t>(r) * o.w_stride;
                const float want = vec_dot_ref(type_, n, wr, o.ap());
                const double bound = kRelBound * magnitude(type_, wr, act_, o.ap(), n);
                ASSERT_LE(std::fabs(static_cast<double>(got) - want), bound)
                    << "n=" << n << " r=" << r << " want=" << want << " got=" << got;
            }
        }
        const Product p{type_, act_, n, o.wp(), o.w_stride, o.ap(), o.a_stride};
        for (const int64_t g1 : {int64_t{9}, int64_t{4}}) {
            for (int64_t nc = 1; nc <= kCols; ++nc) {
                const size_t ldy = static_cast<size_t>(kRowsMax) + 2;
                std::vector<float> y(ldy * kCols, kUnwritten);
                pk.columns(n, aligned, 0, g1, o.ap(), o.a_stride, nc, y.data(), ldy);
                ASSERT_TRUE(matches_ref(p, y, ldy, g1 * kPackedRows, nc, kCols));
            }
        }
    }
}

TEST_P(CpuKernels, PackedGemmMatchesReference) {
    if (k_->packed_gemm == nullptr) GTEST_SKIP() << "no matrix-unit kernel on repacked rows";
    const PackedGemvKernels& pk = *k_->packed_gemv;
    const GemmKernels& g = *k_->packed_gemm;
    ASSERT_EQ(g.pack, nullptr);
    std::mt19937 rng(4711u + static_cast<unsigned>(type_));
    const int64_t bs = info(type_).block_size;
    constexpr int64_t kRowsMax = 10 * kPackedRows, kMaxGroups = 2;  // more groups than a panel
    for (const int64_t n : {bs, 3 * bs, 13 * bs}) {
        const Operands o = random_operands(rng, *k_, n, kRowsMax, kMaxGroups * kGemmBlock);
        std::vector<uint8_t> packed(pk.bytes(n, kRowsMax));
        pk.repack(n, o.wp(), o.w_stride, kRowsMax, packed.data());
        std::vector<uint8_t> scratch(g.scratch_bytes(n));
        const Product p{type_, act_, n, o.wp(), o.w_stride, o.ap(), o.a_stride};
        for (const int64_t nr : {int64_t{kPackedRows}, kRowsMax}) {
            for (int64_t ng = 1; ng <= kMaxGroups; ++ng) {
                const size_t ldd = static_cast<size_t>(kRowsMax) + 3;
                std::vector<float> dst(ldd * kMaxGroups * kGemmBlock, kUnwritten);
                g.gemm(n, packed.data(), 0, nr, o.ap(), kGemmBlock * o.a_stride, ng,
                       dst.data(), ldd, scratch.data());
                ASSERT_TRUE(matches_ref(p, dst, ldd, nr, ng * kGemmBlock,
                                            kMaxGroups * kGemmBlock));
            }
        }
    }
}

// Rows that hit every rounding corner of the activation quantizers: exact ties after
// scaling, zeros, an all-zero block, the largest magnitude at either sign, and for the half
// types infinities, NaN, subnormals and values past the f16 range.
std::vector<float> tricky_row(std::mt19937& rng, int64_t n, DType act) {
    std::vector<float> x = random_row(rng, n);
    const int64_t bs = info(act).block_size;
    std::uniform_int_distribution<int> pick(-120, 120);
    for (int64_t b = 0; b * bs < n; ++b) {
        float* blk = x.data() + b * bs;
        const int64_t len = std::min<int64_t>(bs, n - b * bs);
        switch (b % 5) {
            case 0:  // scale exactly 1: max 127 (or -127 for Q8_K), the rest halves
                for (int64_t i = 0; i < len; ++i) blk[i] = static_cast<float>(pick(rng)) + 0.5f;
                blk[0] = (b % 2 == 0) ? 127.0f : -127.0f;
                break;
            case 1:  // all zero
                for (int64_t i = 0; i < len; ++i) blk[i] = 0.0f;
                break;
            case 2:  // mostly zero, one negative extreme
                for (int64_t i = 0; i < len; ++i) blk[i] = (i % 3 == 0) ? 0.0f : blk[i];
                blk[len - 1] = -50.0f;
                break;
            default: break;
        }
    }
    if (act == DType::F16 || act == DType::BF16) {
        const float specials[] = {std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::quiet_NaN(),
                                  -std::numeric_limits<float>::quiet_NaN(),
                                  std::ldexp(1.0f, -25), std::ldexp(3.0f, -25),
                                  std::ldexp(1023.0f, -24), 65504.0f, 65520.0f, 1e10f,
                                  -0.0f, 1.0f + std::ldexp(1.0f, -11),
                                  1.0f + std::ldexp(1.0f, -8), 1e-40f, -3e38f};
        for (size_t i = 0; i < std::size(specials) && i < x.size(); ++i) x[i * 3 % x.size()] = specials[i];
    }
    return x;
}

TEST_P(CpuKernels, FromFloatBytesMatchActivationReference) {
    if (k_->from_float == nullptr) GTEST_SKIP() << "activations are F32";
    std::mt19937 rng(4321u + static_cast<unsigned>(type_));
    for (const int64_t n : lengths_for(act_ == DType::Q8_K ? DType::Q4_K :
                                       act_ == DType::Q8_0 ? DType::Q4_0 : act_)) {
        for (int rep = 0; rep < 4; ++rep) {
            const std::vector<float> x = rep == 0 ? tricky_row(rng, n, act_) : random_row(rng, n);
            const size_t bytes = row_bytes(act_, n).value();
            std::vector<uint8_t> want(bytes, 0xAB), got(bytes + 8, 0xCD);
            quantize_activation_row_ref(act_, x.data(), want.data(), n);
            k_->from_float(x.data(), got.data() + 4, n);
            ASSERT_EQ(got[3], 0xCD);
            ASSERT_EQ(got[bytes + 4], 0xCD) << "wrote past the row";
            for (size_t i = 0; i < bytes; ++i) {
                ASSERT_EQ(got[i + 4], want[i]) << "n=" << n << " rep=" << rep << " byte " << i;
            }
        }
    }
}

std::string param_name(const ::testing::TestParamInfo<Param>& p) {
    return std::string(dtype_name(std::get<0>(p.param))) + "_" + isa_name(std::get<1>(p.param));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CpuKernels,
                         ::testing::Combine(::testing::ValuesIn(kWeightTypes),
                                            ::testing::ValuesIn(kIsas)),
                         param_name);

// out += p * row, on misaligned rows of 1 to 13 blocks and an out that already holds values:
// within a few roundings of the value (the multiply-add may be fused), for every isa here.
TEST(CpuKernelsBlockAxpy, MatchesDequantizeAndMultiplyAdd) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (const DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0}) {
        for (const Isa isa : kIsas) {
            if (static_cast<int>(isa) > static_cast<int>(detect_isa())) continue;
            const BlockAxpyFn axpy = block_axpy_for(t, isa);
            ASSERT_NE(axpy, nullptr) << dtype_name(t) << " " << isa_name(isa);
            for (const int64_t n : lengths_for(t)) {
                const Row row = make_row(t, random_row(rng, n), 1);
                std::vector<float> values(static_cast<size_t>(n)), out(static_cast<size_t>(n));
                dequantize_row_ref(t, row.data(), values.data(), n);
                for (float& o : out) o = uniform(rng);
                std::vector<float> expected = out;
                const float p = uniform(rng);
                for (int64_t i = 0; i < n; ++i) expected[size_t(i)] += p * values[size_t(i)];
                axpy(n, p, row.data(), out.data());
                for (int64_t i = 0; i < n; ++i) {
                    const double scale = std::fabs(double(out[size_t(i)])) + std::fabs(double(p * values[size_t(i)]));
                    EXPECT_LE(std::fabs(double(out[size_t(i)]) - double(expected[size_t(i)])), 4e-7 * scale + 1e-30)
                        << dtype_name(t) << " " << isa_name(isa) << " n=" << n << " i=" << i;
                }
            }
        }
    }
    EXPECT_EQ(block_axpy_for(DType::F16, detect_isa()), nullptr);
    EXPECT_EQ(block_axpy_for(DType::Q4_K, detect_isa()), nullptr);
}

// The vendor CPUID names is the one the kernel reports in /proc/cpuinfo.
TEST(CpuKernelsDispatch, VendorMatchesProcCpuinfo) {
    std::ifstream in("/proc/cpuinfo");
    std::string line, vendor;
    while (vendor.empty() && std::getline(in, line)) {
        if (line.rfind("vendor_id", 0) == 0) vendor = line.substr(line.find(':') + 2);
    }
    if (vendor.empty()) GTEST_SKIP() << "no vendor_id in /proc/cpuinfo";
    const CpuVendor expected = vendor == "AuthenticAMD"   ? CpuVendor::Amd
                               : vendor == "GenuineIntel" ? CpuVendor::Intel
                                                          : CpuVendor::Other;
    EXPECT_EQ(detect_vendor(), expected) << vendor;
}

TEST(CpuKernelsDispatch, NoKernelsForTypesWithoutDot) {
    for (const DType t : {DType::I32, DType::Q8_K, DType::Q8_1, DType::I8, DType::F64}) {
        EXPECT_EQ(kernels_for(t, detect_isa()), nullptr) << dtype_name(t);
    }
}

TEST(CpuKernelsDispatch, IsaNamesAndCap) {
    EXPECT_STREQ(isa_name(Isa::Scalar), "scalar");
    EXPECT_STREQ(isa_name(Isa::Avx2), "avx2");
    EXPECT_STREQ(isa_name(Isa::AvxVnni), "avxvnni");
    EXPECT_STREQ(isa_name(Isa::Avx512), "avx512");
    EXPECT_STREQ(isa_name(Isa::Amx), "amx");
    // Q4_0's AVX2 gemm (original rows) gives way to the repacked rows at the AVX-512 level;
    // Q4_K keeps its AVX2 gemm there on Intel cores (AMD's take the AVX-512 tiles); the AMX
    // level brings its own for both.
    if (detect_isa() >= Isa::Avx2) {
        EXPECT_NE(kernels_for(DType::Q4_0, Isa::Avx2)->gemm, nullptr);
        EXPECT_NE(kernels_for(DType::Q4_K, Isa::Avx2)->gemm, nullptr);
    }
    if (detect_isa() == Isa::Avx512) {
        EXPECT_EQ(kernels_for(DType::Q4_K, Isa::Avx512)->gemm != nullptr, detect_vendor() != CpuVendor::Amd);
    }
    if (detect_isa() >= Isa::Avx512) {  // below, kernels_for gives the AVX2 level
        EXPECT_EQ(kernels_for(DType::Q4_0, Isa::Avx512)->gemm, nullptr);
    }
    // Asking for more than the CPU has gives what it has.
    const TypeKernels* k = kernels_for(DType::Q4_0, Isa::Avx512);
    ASSERT_NE(k, nullptr);
    EXPECT_LE(static_cast<int>(k->isa), static_cast<int>(detect_isa()));
    EXPECT_EQ(kernels_for(DType::Q4_0, Isa::Scalar)->isa, Isa::Scalar);
}

// AVX-VNNI is a side branch of the AVX2 level: its table differs from AVX2's only in the
// int8 products on 256-bit vectors (gemm, packed_gemv), and the AVX-512 level does not
// inherit them (some AVX-512 CPUs lack AVX-VNNI).
TEST(CpuKernelsDispatch, AvxVnniIsASideBranchOfAvx2) {
    if (detect_isa() < Isa::Avx2) GTEST_SKIP() << "no AVX2";
    for (const DType t : kWeightTypes) {
        const TypeKernels* avx2 = kernels_for(t, Isa::Avx2);
        const TypeKernels* vnni = kernels_for(t, Isa::AvxVnni);
        EXPECT_EQ(vnni->vec_dot, avx2->vec_dot) << dtype_name(t);
        EXPECT_EQ(vnni->gemm == nullptr, avx2->gemm == nullptr) << dtype_name(t);
        EXPECT_EQ(vnni->packed_gemv == nullptr, avx2->packed_gemv == nullptr) << dtype_name(t);
    }
    if (detect_isa() >= Isa::Avx512) {
        EXPECT_NE(kernels_for(DType::Q4_0, Isa::Avx512)->packed_gemv, kernels_for(DType::Q4_0, Isa::AvxVnni)->packed_gemv);
    }
}

}  // namespace
}  // namespace llamux::cpu
