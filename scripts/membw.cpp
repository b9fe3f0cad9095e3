// Streaming memory bandwidth, STREAM-style: the floor against which token generation is
// measured (each generated token reads every weight once).
//
//   c++ -O2 -march=native -pthread scripts/membw.cpp -o membw
//   ./membw [THREADS=2] [MIB=1024] [REPS=10]
//
// Each thread owns a contiguous slice of the arrays (first-touched by that thread).
//  - read: sums its slice of one MIB-sized array (the traffic of a GEMV over weights), once
//    as one sequential stream and once as 8 interleaved streams from the slice's eighths (a
//    core pulls memory faster from several streams; the floor is the faster of the two);
//  - triad: a[i] = b[i] + s * c[i] over three arrays of MIB/2 each (read 2, write 1).
// Prints the best and the median of REPS passes, and a last line "read_gbps=<best>" for
// scripts to parse. GB are 1e9 bytes.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Runs fn(thread_index) on n threads and returns the wall time in seconds.
template <class Fn>
double timed_parallel(int n, const Fn& fn) {
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
    for (auto& th : threads) th.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int n_threads = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
    const size_t mib = argc > 2 ? static_cast<size_t>(std::max(16, std::atoi(argv[2]))) : 1024;
    const int reps = argc > 3 ? std::max(1, std::atoi(argv[3])) : 10;

    const size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    const size_t per = (n + n_threads - 1) / n_threads;
    std::unique_ptr<uint64_t[]> data(new uint64_t[n]);  // left uninitialised: first touch below
    auto slice = [&](int t) {
        const size_t first = std::min(n, per * static_cast<size_t>(t));
        return std::pair<size_t, size_t>{first, std::min(n, first + per)};
    };
    timed_parallel(n_threads, [&](int t) {
        const auto [first, end] = slice(t);
        for (size_t i = first; i < end; ++i) data[i] = i * 2654435761u;
    });

    std::vector<uint64_t> sums(static_cast<size_t>(n_threads));
    // Interleaved streams: 8 per thread, from the slice's eighths, summed with vector loads
    // (4 uint64 per load) so the core is not the limit.
    constexpr size_t kStreams = 8;
    std::vector<double> read4_gbps;
    for (int r = 0; r < reps; ++r) {
        const double s = timed_parallel(n_threads, [&](int t) {
            const auto [first, end] = slice(t);
            const size_t q = (end - first) / kStreams / 4 * 4;
            uint64_t acc[kStreams][4] = {};
            for (size_t i = 0; i < q; i += 4) {
                for (size_t k = 0; k < kStreams; ++k) {
                    for (size_t l = 0; l < 4; ++l) acc[k][l] += data[first + k * q + i + l];
                }
            }
            uint64_t total = 0;
            for (size_t i = first + kStreams * q; i < end; ++i) total += data[i];
            for (const auto& a4 : acc) total += a4[0] + a4[1] + a4[2] + a4[3];
            sums[static_cast<size_t>(t)] += total;
        });
        read4_gbps.push_back(static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
    }
    std::vector<double> read_gbps;
    for (int r = 0; r < reps; ++r) {
        const double s = timed_parallel(n_threads, [&](int t) {
            const auto [first, end] = slice(t);
            uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            size_t i = first;
            for (; i + 4 <= end; i += 4) {
                a0 += data[i];
                a1 += data[i + 1];
                a2 += data[i + 2];
                a3 += data[i + 3];
            }
            for (; i < end; ++i) a0 += data[i];
            sums[static_cast<size_t>(t)] = a0 + a1 + a2 + a3;
        });
        read_gbps.push_back(static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
    }
    uint64_t check = 0;
    for (const uint64_t s : sums) check += s;

    // Triad over three arrays of half the size each (doubles).
    const size_t m = n / 2;
    const size_t per_m = (m + n_threads - 1) / n_threads;
    std::unique_ptr<double[]> a(new double[m]), b(new double[m]), c(new double[m]);
    timed_parallel(n_threads, [&](int t) {
        const size_t first = std::min(m, per_m * static_cast<size_t>(t));
        const size_t end = std::min(m, first + per_m);
        for (size_t i = first; i < end; ++i) a[i] = 0.0, b[i] = 1.0, c[i] = 2.0;
    });
    std::vector<double> triad_gbps;
    for (int r = 0; r < reps; ++r) {
        const double s = timed_parallel(n_threads, [&](int t) {
            const size_t first = std::min(m, per_m * static_cast<size_t>(t));
            const size_t end = std::min(m, first + per_m);
            for (size_t i = first; i < end; ++i) a[i] = b[i] + 3.0 * c[i];
        });
        triad_gbps.push_back(3.0 * static_cast<double>(m * sizeof(double)) / s / 1e9);
    }

    std::printf("threads %d, read array %zu MiB, triad arrays 3 x %zu MiB, %d passes (check %llu, %.0f)\n",
                n_threads, mib, mib / 2, reps, static_cast<unsigned long long>(check & 0xff), a[m / 2]);
    std::printf("read  (sum):   best %6.1f GB/s, median %6.1f GB/s\n",
                *std::max_element(read_gbps.begin(), read_gbps.end()), median(read_gbps));
    std::printf("read, 8 streams per thread: best %6.1f GB/s, median %6.1f GB/s\n",
                *std::max_element(read4_gbps.begin(), read4_gbps.end()), median(read4_gbps));
    std::printf("triad (a=b+sc): best %6.1f GB/s, median %6.1f GB/s (read 2 + write 1 counted)\n",
                *std::max_element(triad_gbps.begin(), triad_gbps.end()), median(triad_gbps));
    std::printf("read_gbps=%.2f\n", std::max(*std::max_element(read_gbps.begin(), read_gbps.end()),
                                             *std::max_element(read4_gbps.begin(), read4_gbps.end())));
    return 0;
}
