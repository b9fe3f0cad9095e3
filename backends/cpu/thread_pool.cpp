// ThreadPool. A loop is published behind a gate: a worker joins only while the gate is open
// (a compare-and-swap that also counts it in), so a worker that wakes late finds the gate
// closed and never touches a finished loop's (stack-allocated) state. The caller takes
// chunks like any worker, closes the gate when none are left, and waits only for the
// workers inside.
//
// Both waits spin first and sleep on a futex only after the spin budget; a sleeper is woken
// only when it has announced itself (Doorbell::sleepers, caller_sleeping_), so the busy path
// makes no system call. Each announce-then-check / change-then-check pair is sequentially
// consistent (Dekker's pattern): that is what rules out a lost wake-up.
#include "thread_pool.hpp"

#include <chrono>
#include <climits>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace llamux::cpu {
namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain 32-bit integers");

constexpr auto kSpin = std::chrono::microseconds(50);
constexpr uint32_t kOpen = 1u << 31;  // gate_: the loop takes joiners

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
}

// Sleeps while *word == expected (returns at once if it already differs; may return early).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
            nullptr, 0);
#else
    word.wait(expected, std::memory_order_seq_cst);
#endif
}

void futex_wake_all(std::atomic<uint32_t>& word) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    word.notify_all();
#endif
}

// Spins until pred() holds or the budget is spent; true if it holds.
template <typename Pred>
bool spin_until(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (pred()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return pred();
    }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads, int n_narrow)
    : n_threads_(n_threads > 1 ? n_threads : 1),
      n_narrow_(n_narrow <= 0 || n_narrow > n_threads_ ? n_threads_ : n_narrow) {
    workers_.reserve(static_cast<size_t>(n_threads_ - 1));
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_release);
    for (Doorbell* bell : {&doorbell_, &wide_doorbell_}) {
        bell->rings.fetch_add(1, std::memory_order_seq_cst);
        futex_wake_all(bell->rings);
    }
    for (auto& t : workers_) t.join();
}

void ThreadPool::ring(Doorbell& bell) {
    bell.rings.fetch_add(1, std::memory_order_seq_cst);
    if (bell.sleepers.load(std::memory_order_seq_cst) > 0) futex_wake_all(bell.rings);
}

void ThreadPool::run_loop(int64_t n_chunks, ChunkFn fn, void* ctx, bool wide) {
    const bool all = wide || n_narrow_ == n_threads_;
    if ((all ? n_threads_ : n_narrow_) == 1 || n_chunks <= 1) {
        for (int64_t c = 0; c < n_chunks; ++c) fn(ctx, c, 0);
        return;
    }
    // The gate is closed and empty here (the previous loop waited for that).
    fn_ = fn;
    ctx_ = ctx;
    n_chunks_ = n_chunks;
    next_chunk_.store(0, std::memory_order_relaxed);
    gate_.store(kOpen, std::memory_order_release);  // publishes the loop to joiners
    ring(doorbell_);
    if (all && n_narrow_ < n_threads_) ring(wide_doorbell_);

    take_chunks(0);

    // Every chunk is taken; close the gate and wait for the workers still inside.
    if ((gate_.fetch_and(~kOpen, std::memory_order_acq_rel) & ~kOpen) == 0) return;
    if (spin_until([this] { return gate_.load(std::memory_order_acquire) == 0; })) return;
    caller_sleeping_.store(1, std::memory_order_seq_cst);
    for (uint32_t inside; (inside = gate_.load(std::memory_order_seq_cst)) != 0;) {
        futex_wait(gate_, inside);
    }
    caller_sleeping_.store(0, std::memory_order_relaxed);
}

void ThreadPool::take_chunks(int slot) {
    const ChunkFn fn = fn_;
    void* const ctx = ctx_;
    const int64_t n = n_chunks_;
    for (int64_t c; (c = next_chunk_.fetch_add(1, std::memory_order_relaxed)) < n;) {
        fn(ctx, c, slot);
    }
}

bool ThreadPool::join() {
    uint32_t s = gate_.load(std::memory_order_relaxed);
    while ((s & kOpen) != 0) {
        if (gate_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

void ThreadPool::leave() {
    // The last one out of a closed gate wakes the caller if it went to sleep.
    if (gate_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        caller_sleeping_.load(std::memory_order_seq_cst) != 0) {
        futex_wake_all(gate_);
    }
}

uint32_t ThreadPool::wait_for(Doorbell& bell, uint32_t seen) {
    uint32_t d = seen;
    if (spin_until([&] { return (d = bell.rings.load(std::memory_order_acquire)) != seen; })) {
        return d;
    }
    bell.sleepers.fetch_add(1, std::memory_order_seq_cst);
    while ((d = bell.rings.load(std::memory_order_seq_cst)) == seen) futex_wait(bell.rings, seen);
    bell.sleepers.fetch_sub(1, std::memory_order_relaxed);
    return d;
}

void ThreadPool::worker_main(int slot) {
    // A worker past the narrow ones may still join a narrow loop that is open when it wakes
    // late from a wide one: harmless (it takes chunks like any other).
    Doorbell& bell = slot < n_narrow_ ? doorbell_ : wide_doorbell_;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for(bell, seen);
        if (stop_.load(std::memory_order_acquire)) return;
        if (join()) {  // a loop is open: help until its chunks run out
            take_chunks(slot);
            leave();
        }
    }
}

}  // namespace llamux::cpu
