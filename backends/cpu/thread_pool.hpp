// A persistent pool of worker threads for the CPU backend: created once with the backend,
// one parallel loop at a time, the calling thread taking part.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace llamux::cpu {

// for_chunks(n, f) calls f(chunk, slot) exactly once for every chunk in 0 .. n-1 and returns
// when all calls have returned (a barrier). Chunks are handed out one at a time from a shared
// counter to the calling thread and to whichever workers join the loop, so a worker that is
// slow to wake (asleep, or preempted on a busy machine) never holds the loop up: the others
// take its share. `slot` (0 .. size()-1, 0 for the calling thread) names the thread running
// the call, for per-thread scratch; which chunk runs on which slot varies from run to run,
// so a chunk's result must not depend on the slot.
//
// Between loops a worker spins for a few tens of microseconds, then sleeps on a futex: back-
// to-back loops make no system call and an idle session burns no CPU.
//
// A loop is wide (all size() threads) or narrow (the first narrow_size() of them): a backend
// whose prompts and generation run on different thread counts (llama.cpp's -tb and -t) keeps
// one pool of the larger count. The threads past narrow_size() wait on a doorbell of their
// own that narrow loops do not ring, so they sleep through generation instead of spinning
// beside it.
//
// Contract: one for_chunks() at a time (not reentrant, not from two threads at once); f must
// not throw (an exception escaping a worker terminates the process). Memory written before
// for_chunks() is visible to every call of f, everything f wrote is visible after it.
class ThreadPool {
public:
    // n_threads <= 1: no workers, everything inline. n_narrow: the threads of a narrow loop,
    // clamped to 1 .. n_threads (<= 0: n_threads, every loop on all).
    explicit ThreadPool(int n_threads, int n_narrow = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    int narrow_size() const { return n_narrow_; }

    template <typename F>
    void for_chunks(int64_t n_chunks, F&& f, bool wide = true) {
        using Fn = std::remove_reference_t<F>;
        void* ctx = const_cast<void*>(static_cast<const void*>(&f));
        run_loop(n_chunks, [](void* c, int64_t chunk, int slot) { (*static_cast<Fn*>(c))(chunk, slot); },
                 ctx, wide);
    }

private:
    using ChunkFn = void (*)(void* ctx, int64_t chunk, int slot);
    // A futex word rung once per loop (and at shutdown), and how many workers sleep on it.
    struct Doorbell {
        alignas(64) std::atomic<uint32_t> rings{0};
        std::atomic<int32_t> sleepers{0};
    };
    void run_loop(int64_t n_chunks, ChunkFn fn, void* ctx, bool wide);
    void worker_main(int slot);
    static uint32_t wait_for(Doorbell& bell, uint32_t seen);
    static void ring(Doorbell& bell);
    bool join();
    void leave();
    void take_chunks(int slot);

    int n_threads_ = 1;
    int n_narrow_ = 1;
    std::vector<std::thread> workers_;

    // The open loop; written by run_loop before the gate opens, read by workers that joined.
    ChunkFn fn_ = nullptr;
    void* ctx_ = nullptr;
    int64_t n_chunks_ = 0;
    alignas(64) std::atomic<int64_t> next_chunk_{0};

    // kOpen while the loop takes joiners; the low bits count workers inside it.
    alignas(64) std::atomic<uint32_t> gate_{0};
    std::atomic<int32_t> caller_sleeping_{0};  // run_loop asleep on gate_
    Doorbell doorbell_;       // every loop: workers 1 .. n_narrow_ - 1
    Doorbell wide_doorbell_;  // wide loops: workers n_narrow_ .. n_threads_ - 1
    std::atomic<bool> stop_{false};
};

// The part [begin, end) of n items that chunk c of n_chunks covers: contiguous, in order,
// sizes differing by at most one `align`-sized unit.
struct Range {
    int64_t begin, end;
};
inline Range chunk_range(int64_t n, int64_t c, int64_t n_chunks, int64_t align = 1) {
    const int64_t units = (n + align - 1) / align;
    const int64_t per = units / n_chunks, extra = units % n_chunks;
    const int64_t b = c * per + (c < extra ? c : extra);
    const int64_t e = b + per + (c < extra ? 1 : 0);
    return {b * align < n ? b * align : n, e * align < n ? e * align : n};
}

// How many chunks to cut `units` of work into for n_threads: about four per thread (so that
// a late thread's share can be taken by the others), none smaller than min_units.
inline int64_t chunk_count(int64_t units, int64_t min_units, int n_threads) {
    if (n_threads <= 1 || units <= min_units) return 1;
    const int64_t most = units / min_units;
    const int64_t want = 4 * static_cast<int64_t>(n_threads);
    return most < want ? most : want;
}

}  // namespace llamux::cpu
