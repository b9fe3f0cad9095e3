// The CPU plugin's memory for weights it holds and for buffers: zero-filled, writable, and
// starting on a huge-page boundary when at least a huge page long, with or without the
// huge-page advice.
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <utility>

#include "huge_pages.hpp"

namespace llamux::cpu {
namespace {

class HugePages : public ::testing::TestWithParam<std::tuple<size_t, bool>> {};

TEST_P(HugePages, ZeroFilledWritableAndAligned) {
    const auto [bytes, huge] = GetParam();
    HugePageMemory memory = HugePageMemory::allocate(bytes, huge);
    ASSERT_NE(memory.data(), nullptr);
    EXPECT_GE(memory.size(), bytes);
    if (bytes >= kHugePageBytes) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(memory.data()) % kHugePageBytes, 0u);
    }
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; i += 997) nonzero += memory.data()[i] != std::byte{0};
    nonzero += memory.data()[bytes - 1] != std::byte{0};
    EXPECT_EQ(nonzero, 0u);
    memory.data()[0] = std::byte{1};
    memory.data()[bytes - 1] = std::byte{2};

    HugePageMemory moved = std::move(memory);
    EXPECT_EQ(memory.data(), nullptr);
    EXPECT_EQ(moved.data()[bytes - 1], std::byte{2});
    moved = HugePageMemory::allocate(64, huge);  // the old block is unmapped, the new one held
    EXPECT_EQ(moved.data()[63], std::byte{0});
}

INSTANTIATE_TEST_SUITE_P(Sizes, HugePages,
                         ::testing::Combine(::testing::Values(size_t{1}, size_t{4095}, size_t{4097},
                                                              kHugePageBytes - 1, kHugePageBytes,
                                                              kHugePageBytes + 1,
                                                              5 * kHugePageBytes + 12345),
                                            ::testing::Bool()));

}  // namespace
}  // namespace llamux::cpu
