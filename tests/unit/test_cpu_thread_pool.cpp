// The CPU plugin's thread pool: every chunk of a loop runs exactly once, on a slot of the
// pool, whether the loop is wide (all threads) or narrow (llama.cpp's -t beside a larger -tb);
// loops in a row, with the workers spinning or asleep in between, lose no wake-up.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "thread_pool.hpp"

namespace llamux::cpu {
namespace {

// Runs one loop of n chunks and checks that each ran once on a slot below max_slot.
void expect_each_chunk_once(ThreadPool& pool, int64_t n, bool wide, int max_slot) {
    std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
    std::atomic<int> bad_slot{-1};
    pool.for_chunks(
        n,
        [&](int64_t chunk, int slot) {
            runs[static_cast<size_t>(chunk)].fetch_add(1, std::memory_order_relaxed);
            if (slot < 0 || slot >= max_slot) bad_slot.store(slot);
        },
        wide);
    for (int64_t c = 0; c < n; ++c) ASSERT_EQ(runs[static_cast<size_t>(c)].load(), 1) << "chunk " << c << " of " << n;
    EXPECT_EQ(bad_slot.load(), -1);
}

TEST(CpuThreadPool, NarrowSizeIsClampedToThePool) {
    EXPECT_EQ(ThreadPool(4).narrow_size(), 4);
    EXPECT_EQ(ThreadPool(4, 2).narrow_size(), 2);
    EXPECT_EQ(ThreadPool(4, 9).narrow_size(), 4);
    EXPECT_EQ(ThreadPool(4, -1).narrow_size(), 4);
    const ThreadPool single(1, 3);
    EXPECT_EQ(single.size(), 1);
    EXPECT_EQ(single.narrow_size(), 1);
}

TEST(CpuThreadPool, WideAndNarrowLoopsRunEveryChunkOnce) {
    ThreadPool pool(4, 2);
    for (const int64_t n : {0, 1, 2, 3, 7, 64, 1000}) {
        expect_each_chunk_once(pool, n, true, pool.size());
        expect_each_chunk_once(pool, n, false, pool.size());
    }
}

TEST(CpuThreadPool, ANarrowPoolOfOneRunsOnTheCaller) {
    ThreadPool pool(3, 1);
    const std::thread::id caller = std::this_thread::get_id();
    std::atomic<int> elsewhere{0};
    pool.for_chunks(
        50, [&](int64_t, int slot) { elsewhere += slot != 0 || std::this_thread::get_id() != caller; }, false);
    EXPECT_EQ(elsewhere.load(), 0);
    expect_each_chunk_once(pool, 50, true, 3);  // the wide loop still has its workers
}

TEST(CpuThreadPool, AlternatingLoopsLoseNoWakeUp) {
    ThreadPool pool(3, 2);
    int64_t total = 0;
    for (int i = 0; i < 3000; ++i) {
        const bool wide = i % 3 != 1;
        std::atomic<int64_t> sum{0};
        pool.for_chunks(17, [&](int64_t chunk, int) { sum += chunk; }, wide);
        ASSERT_EQ(sum.load(), 17 * 16 / 2) << "loop " << i;
        total += sum.load();
        // Now and then a pause past the spin budget, so the workers sleep on their futexes.
        if (i % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    EXPECT_EQ(total, int64_t{3000} * 136);
}

}  // namespace
}  // namespace llamux::cpu
