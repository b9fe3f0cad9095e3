#include "block_runner.hpp"

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuemu {

namespace {

namespace bctx = boost::context;

// AddressSanitizer must hear of every switch between the host stack and a device thread's,
// or it reads one stack's frames with the other's bookkeeping and reports errors that are
// not there. `fake` carries its fake-stack state across the switch; null when leaving a
// stack for good.
void before_switch([[maybe_unused]] void** fake, [[maybe_unused]] const void* to_bottom,
                   [[maybe_unused]] size_t to_size) {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_start_switch_fiber(fake, to_bottom, to_size);
#endif
}

void after_switch([[maybe_unused]] void* fake, [[maybe_unused]] const void** from_bottom,
                  [[maybe_unused]] size_t* from_size) {
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(fake, from_bottom, from_size);
#endif
}

// A stack handed out again may still carry the poisoned redzones of frames that never
// returned on it (a finished fiber's last frames leave by a jump).
void unpoison_stack([[maybe_unused]] void* base, [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(base, size);
#endif
}

// Kernels keep little on their stacks; wmma fragments (whole tiles here) are the largest.
constexpr size_t kStackBytes = 256 * 1024;

// Stacks of finished device threads, reused by the next ones.
class StackPool {
public:
    StackPool() = default;
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;
    ~StackPool() {
        for (void* s : free_) std::free(s);
    }

    void* take() {
        if (free_.empty()) {
            void* s = std::aligned_alloc(64, kStackBytes);
            if (!s) throw std::bad_alloc();
            return s;
        }
        void* s = free_.back();
        free_.pop_back();
        return s;
    }
    void give(void* s) { free_.push_back(s); }

private:
    std::vector<void*> free_;
};

StackPool g_stacks;

enum class Wait { None, Block, Warp, Done };

struct DeviceThread {
    ThreadContext context{};
    bctx::fiber fiber;  // the device thread, while it is suspended
    bctx::fiber sink;   // the block's scheduler, while the device thread runs
    Wait wait = Wait::None;
    const void* stack_bottom = nullptr;
    size_t stack_size = 0;
};

// Stack tops 256 KiB apart would all fall in the same cache sets, and a block's threads
// switch in turn: each stack starts a different number of cache lines below its top.
struct PooledStack {
    size_t color;  // 0..63
    DeviceThread* owner;

    bctx::stack_context allocate() {
        bctx::stack_context sc;
        sc.size = kStackBytes - color * 64 * 17;
        char* base = static_cast<char*>(g_stacks.take());
        unpoison_stack(base, kStackBytes);
        sc.sp = base + sc.size;
        owner->stack_bottom = base;
        owner->stack_size = sc.size;
        return sc;
    }
    void deallocate(bctx::stack_context& sc) noexcept { g_stacks.give(static_cast<char*>(sc.sp) - sc.size); }
};

DeviceThread* g_running = nullptr;
const void* g_host_stack_bottom = nullptr;
size_t g_host_stack_size = 0;

// Set while the threads of a block whose barriers cannot be met are sent home: each
// resumes inside suspend(), which then unwinds it by throwing Abandoned.
bool g_abandoning = false;
struct Abandoned {};

// LLAMUX_CUDA_EMULATOR_ORDER=reverse runs blocks, and the threads between two barriers, last
// first. A GPU runs them in no set order: a kernel that is right only in one order (a block
// reading what another writes, a missing barrier) fails in one of the two.
bool reverse_order() {
    static const bool reverse = [] {
        const char* v = std::getenv("LLAMUX_CUDA_EMULATOR_ORDER");
        return v && std::strcmp(v, "reverse") == 0;
    }();
    return reverse;
}

void suspend(Wait wait) {
    DeviceThread* self = g_running;
    self->wait = wait;
    void* fake = nullptr;
    before_switch(&fake, g_host_stack_bottom, g_host_stack_size);
    self->sink = std::move(self->sink).resume();
    after_switch(fake, nullptr, nullptr);
    if (g_abandoning) throw Abandoned{};
}

class Block {
public:
    Block(dim3 shape, size_t shared_bytes)
        : threads_(static_cast<size_t>(shape.x) * shape.y * shape.z),
          warp_slots_((threads_.size() + 31) / 32 * 64),
          shared_(std::make_unique<unsigned char[]>(shared_bytes + 128)),
          shared_bytes_(shared_bytes) {
        unsigned char* shared = shared_.get();
        shared += (128 - reinterpret_cast<uintptr_t>(shared) % 128) % 128;
        for (size_t i = 0; i < threads_.size(); ++i) {
            ThreadContext& c = threads_[i].context;
            const auto li = static_cast<unsigned>(i);
            c.thread_idx = {li % shape.x, li / shape.x % shape.y, li / (shape.x * shape.y)};
            c.block_dim = shape;
            c.lane = li % 32;
            c.warp = li / 32;
            c.warp_slots = &warp_slots_[c.warp * 64];
            c.dynamic_shared = shared;
        }
    }

    bool run(dim3 grid, uint3 block_idx, const std::function<void()>& body, std::string* why) {
        if (shared_bytes_) std::memset(threads_[0].context.dynamic_shared, 0xff, shared_bytes_);
        std::vector<size_t> runnable(threads_.size());
        for (size_t i = 0; i < threads_.size(); ++i) {
            DeviceThread& t = threads_[i];
            t.context.block_idx = block_idx;
            t.context.grid_dim = grid;
            t.context.slot_set = 0;
            t.wait = Wait::None;
            t.fiber = bctx::fiber(std::allocator_arg, PooledStack{i % 64, &t}, [&t, &body](bctx::fiber&& sink) {
                after_switch(nullptr, &g_host_stack_bottom, &g_host_stack_size);
                t.sink = std::move(sink);
                try {
                    body();
                } catch (const Abandoned&) {
                }
                t.wait = Wait::Done;
                before_switch(nullptr, g_host_stack_bottom, g_host_stack_size);
                return std::move(t.sink);
            });
            runnable[i] = i;
        }
        if (reverse_order()) std::reverse(runnable.begin(), runnable.end());
        for (;;) {
            for (const size_t i : runnable) resume(threads_[i]);
            runnable.clear();
            release_warps(&runnable);
            if (!runnable.empty()) {
                if (reverse_order()) std::reverse(runnable.begin(), runnable.end());
                continue;
            }
            size_t done = 0, at_block = 0;
            for (const DeviceThread& t : threads_) {
                done += t.wait == Wait::Done;
                at_block += t.wait == Wait::Block;
            }
            if (done == threads_.size()) return true;
            if (done + at_block == threads_.size()) {
                for (size_t i = 0; i < threads_.size(); ++i) {
                    if (threads_[i].wait == Wait::Block) runnable.push_back(i);
                }
                if (reverse_order()) std::reverse(runnable.begin(), runnable.end());
                continue;
            }
            *why = describe_deadlock(block_idx);
            g_abandoning = true;
            for (DeviceThread& t : threads_) {
                if (t.wait != Wait::Done) resume(t);
            }
            g_abandoning = false;
            return false;
        }
    }

private:
    // Runs `t` until it waits at a barrier or returns.
    static void resume(DeviceThread& t) {
        t.wait = Wait::None;
        g_running = &t;
        g_current = &t.context;
        threadIdx = t.context.thread_idx;
        blockIdx = t.context.block_idx;
        blockDim = t.context.block_dim;
        gridDim = t.context.grid_dim;
        void* fake = nullptr;
        before_switch(&fake, t.stack_bottom, t.stack_size);
        t.fiber = std::move(t.fiber).resume();
        after_switch(fake, nullptr, nullptr);
        g_running = nullptr;
        g_current = nullptr;
    }

    // Lanes of warps whose live lanes all wait at a warp barrier.
    void release_warps(std::vector<size_t>* runnable) const {
        for (size_t first = 0; first < threads_.size(); first += 32) {
            const size_t end = std::min(first + 32, threads_.size());
            bool any = false, all = true;
            for (size_t i = first; i < end; ++i) {
                any = any || threads_[i].wait == Wait::Warp;
                all = all && (threads_[i].wait == Wait::Warp || threads_[i].wait == Wait::Done);
            }
            if (!any || !all) continue;
            for (size_t i = first; i < end; ++i) {
                if (threads_[i].wait == Wait::Warp) runnable->push_back(i);
            }
        }
    }

    std::string describe_deadlock(uint3 b) const {
        size_t at_block = 0, at_warp = 0, done = 0;
        for (const DeviceThread& t : threads_) {
            at_block += t.wait == Wait::Block;
            at_warp += t.wait == Wait::Warp;
            done += t.wait == Wait::Done;
        }
        return "block (" + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) +
               ") cannot go on: " + std::to_string(at_block) + " threads wait at __syncthreads, " +
               std::to_string(at_warp) + " at a warp barrier (shuffle or wmma) of a warp whose other lanes " +
               "wait elsewhere, " + std::to_string(done) + " have returned";
    }

    std::vector<DeviceThread> threads_;
    std::vector<uint64_t> warp_slots_;
    std::unique_ptr<unsigned char[]> shared_;
    size_t shared_bytes_;
};

}  // namespace

void sync_block() { suspend(Wait::Block); }
void sync_warp() { suspend(Wait::Warp); }

bool run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body, std::string* why) {
    static std::mutex one_kernel_at_a_time;
    std::lock_guard lock(one_kernel_at_a_time);
    Block b(block, shared_bytes);
    const uint64_t n = uint64_t{grid.x} * grid.y * grid.z;
    for (uint64_t k = 0; k < n; ++k) {
        const uint64_t i = reverse_order() ? n - 1 - k : k;
        const uint3 idx{static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
                        static_cast<unsigned>(i / (uint64_t{grid.x} * grid.y))};
        if (!b.run(grid, idx, body, why)) return false;
    }
    return true;
}

}  // namespace cuemu
