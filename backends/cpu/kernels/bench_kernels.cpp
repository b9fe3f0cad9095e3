// Micro benchmark of the CPU dot-product kernels, one thread: for each weight type and each
// instruction set this CPU has,
//   gemv: y = W x for a 4096 x 4096 weight matrix, one vec_dot per row; reported as GB/s of
//         weights streamed (the figure that bounds token generation);
//   gemm: Y = W X for 512 weight rows and 64 activation columns in kTileMax x kTileMax tiles; reported as
//         GMAC/s (the figure that bounds prompt processing), and the same work done with
//         vec_dot per (row, column) for comparison.
// Weights are a few distinct quantized rows repeated (speed does not depend on the values),
// so setting up a K-quant matrix does not take the reference quantizer minutes. Timing: see
// best_seconds. Note that a 4096 x 4096 matrix of most types fits a large L3 cache.
//
//   llamux_bench_kernels [type ...] [--reps N]     e.g. llamux_bench_kernels q4_0 q4_K
// LLAMUX_CPU_ISA=avx2 caps the sets measured, as in the plugin.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"
#include "llamux/dtype.hpp"
#include "llamux/quant_ref.hpp"

namespace {

using namespace llamux;
using namespace llamux::cpu;
using Clock = std::chrono::steady_clock;

constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;
constexpr int64_t kBatch = 64;      // activation columns of the gemm
constexpr int64_t kGemmRows = 512;  // weight rows of the gemm (short runs: fewer preemptions)
constexpr int64_t kDistinct = 16;   // distinct weight rows, repeated

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The work is split into `chunks` short pieces run in order (so each run streams the whole
// matrix, as the real thing does); the time of a piece is its best over `reps` runs, and the
// total is the sum of those. On a shared machine the slower runs of a piece measure the other
// tenants; pieces of a fraction of a millisecond are rarely preempted.
template <typename F>
double best_seconds(int reps, int64_t chunks, F&& piece) {
    std::vector<double> best(static_cast<size_t>(chunks), 1e30);
    for (int i = 0; i < reps; ++i) {
        for (int64_t k = 0; k < chunks; ++k) {
            const auto t0 = Clock::now();
            piece(k);
            best[static_cast<size_t>(k)] = std::min(best[static_cast<size_t>(k)], seconds_since(t0));
        }
    }
    double total = 0.0;
    for (const double t : best) total += t;
    return total;
}

struct Matrix {
    std::vector<uint8_t> bytes;
    size_t row_bytes = 0;
    const uint8_t* row(int64_t r) const { return bytes.data() + static_cast<size_t>(r) * row_bytes; }
};

Matrix make_weights(DType t, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Matrix m;
    m.row_bytes = row_bytes(t, kCols).value();
    m.bytes.resize(m.row_bytes * kRows);
    std::vector<float> x(kCols);
    for (int64_t r = 0; r < kDistinct; ++r) {
        for (auto& v : x) v = nd(rng);
        quantize_row_ref(t, x.data(), m.bytes.data() + static_cast<size_t>(r) * m.row_bytes, kCols);
    }
    for (int64_t r = kDistinct; r < kRows; ++r) {
        std::memcpy(m.bytes.data() + static_cast<size_t>(r) * m.row_bytes,
                    m.row(r % kDistinct), m.row_bytes);
    }
    return m;
}

Matrix make_activations(const TypeKernels& k, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Matrix m;
    m.row_bytes = row_bytes(k.activation, kCols).value();
    m.bytes.resize(m.row_bytes * kBatch);
    std::vector<float> x(kCols);
    for (int64_t c = 0; c < kBatch; ++c) {
        for (auto& v : x) v = nd(rng);
        void* dst = m.bytes.data() + static_cast<size_t>(c) * m.row_bytes;
        if (k.from_float != nullptr) {
            k.from_float(x.data(), dst, kCols);
        } else {
            std::memcpy(dst, x.data(), m.row_bytes);
        }
    }
    return m;
}

void bench(DType t, Isa isa, int reps) {
    const TypeKernels* k = kernels_for(t, isa);
    if (k == nullptr) return;
    std::mt19937 rng(42);
    const Matrix w = make_weights(t, rng);
    const Matrix a = make_activations(*k, rng);
    std::vector<float> y(static_cast<size_t>(kRows * kBatch));
    volatile float sink = 0.0f;

    constexpr int64_t kPiece = 128;  // rows
    const double gemv_s = best_seconds(reps, kRows / kPiece, [&](int64_t p) {
        for (int64_t r = p * kPiece; r < (p + 1) * kPiece; ++r) {
            y[static_cast<size_t>(r)] = k->vec_dot(kCols, w.row(r), a.row(0));
        }
    });
    sink = sink + y[0];
    // The same product as kTileMax x 1 tiles: activation-side work shared by kTileMax rows.
    const double gemv_tile_s = best_seconds(reps, kRows / kPiece, [&](int64_t p) {
        for (int64_t r = p * kPiece; r < (p + 1) * kPiece; r += kTileMax) {
            k->tile(kCols, w.row(r), w.row_bytes, a.row(0), a.row_bytes,
                    y.data() + static_cast<size_t>(r), kRows, kTileMax, 1);
        }
    });
    sink = sink + y[0];

    if (isa == Isa::Scalar) {  // the scalar gemm would take minutes
        std::printf("%-5s %-7s (kernels: %-7s) gemv %6.2f GB/s\n",
                    std::string(dtype_name(t)).c_str(), isa_name(isa), isa_name(k->isa),
                    static_cast<double>(w.bytes.size()) / 1e9 / gemv_s);
        return;
    }
    // The gemm: tiles of kTileMax rows x kTileMax columns, columns innermost so the tile's
    // weight rows stay in L1 while all columns pass.
    const int gemm_reps = reps;
    constexpr int64_t kGemmPiece = 8;  // rows
    const double tile_s = best_seconds(gemm_reps, kGemmRows / kGemmPiece, [&](int64_t p) {
        for (int64_t r = p * kGemmPiece; r < (p + 1) * kGemmPiece; r += kTileMax) {
            for (int64_t c = 0; c < kBatch; c += kTileMax) {
                k->tile(kCols, w.row(r), w.row_bytes, a.row(c), a.row_bytes,
                        y.data() + static_cast<size_t>(c * kRows + r), kRows, kTileMax, kTileMax);
            }
        }
    });
    sink = sink + y[1];
    const double dot_s = best_seconds(gemm_reps, kGemmRows / kGemmPiece, [&](int64_t p) {
        for (int64_t r = p * kGemmPiece; r < (p + 1) * kGemmPiece; ++r) {
            for (int64_t c = 0; c < kBatch; ++c) {
                y[static_cast<size_t>(c * kRows + r)] = k->vec_dot(kCols, w.row(r), a.row(c));
            }
        }
    });
    sink = sink + y[2];

    // The block (gemm) kernel where there is one, on kUnitBatch columns (as many as a prompt
    // work item has; the kBatch columns repeated): columns packed once, rows in pieces.
    double unit_s = 0.0;
    constexpr int64_t kUnitBatch = 4 * kBatch;
    if (k->gemm != nullptr) {
        const GemmKernels& g = *k->gemm;
        const size_t stride = g.group_bytes(kCols);
        constexpr int64_t kGroups = kUnitBatch / kGemmBlock;
        std::vector<uint8_t> groups(stride * kGroups);
        std::vector<uint8_t> scratch(g.scratch_bytes(kCols));
        std::vector<float> out(static_cast<size_t>(kGemmRows * kUnitBatch));
        for (int64_t j = 0; j < kGroups; ++j) {
            g.pack(kCols, a.row(j * kGemmBlock % kBatch), a.row_bytes, groups.data() + j * stride);
        }
        constexpr int64_t kUnitPiece = 2 * kGemmBlock;  // rows
        unit_s = best_seconds(gemm_reps, kGemmRows / kUnitPiece, [&](int64_t p) {
            g.gemm(kCols, w.row(p * kUnitPiece), w.row_bytes, kUnitPiece, groups.data(), stride,
                   kGroups, out.data() + static_cast<size_t>(p * kUnitPiece), kGemmRows,
                   scratch.data());
        });
        unit_s /= static_cast<double>(kUnitBatch / kBatch);  // per kBatch columns, as gmac
        sink = sink + out[3];
    }

    const double gb = static_cast<double>(w.bytes.size()) / 1e9;
    const double gmac = static_cast<double>(kGemmRows * kCols * kBatch) / 1e9;
    std::printf("%-5s %-7s (kernels: %-7s) gemv %6.2f GB/s, as %dx1 tiles %6.2f GB/s | gemm %lldx%lld: "
                "%dx%d tiles %5.1f GMAC/s, vec_dot %5.1f GMAC/s\n",
                std::string(dtype_name(t)).c_str(), isa_name(isa), isa_name(k->isa), gb / gemv_s,
                kTileMax, gb / gemv_tile_s, static_cast<long long>(kGemmRows),
                static_cast<long long>(kBatch), kTileMax, kTileMax, gmac / tile_s, gmac / dot_s);
    if (unit_s > 0.0) std::printf("%-5s %-7s gemm kernel (16 x 16 blocks): %5.1f GMAC/s\n",
                                  std::string(dtype_name(t)).c_str(), isa_name(isa), gmac / unit_s);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<DType> types;
    int reps = 21;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = std::max(1, std::atoi(argv[++i]));
            continue;
        }
        const auto t = dtype_from_name(argv[i]);
        if (!t) {
            std::fprintf(stderr, "unknown type '%s'\n", argv[i]);
            return 2;
        }
        types.push_back(*t);
    }
    if (types.empty()) {
        types = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                 DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                 DType::Q4_K, DType::Q5_K, DType::Q6_K};
    }
    std::printf("weights %lldx%lld, one thread, best of %d runs per piece; detect_isa: %s\n",
                static_cast<long long>(kRows), static_cast<long long>(kCols), reps,
                isa_name(detect_isa()));
    for (const DType t : types) {
        for (const Isa isa : {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Amx}) {
            if (static_cast<int>(isa) > static_cast<int>(detect_isa())) continue;
            bench(t, isa, isa == Isa::Scalar ? std::max(1, reps / 5) : reps);
        }
    }
    return 0;
}
