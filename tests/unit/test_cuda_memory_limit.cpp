// LLAMUX_CUDA_MEMORY_LIMIT_MIB's parsing (backends/cuda/cuda_memory_limit.hpp): plain C++, so
// it runs on every machine; what the limit does to allocations needs a GPU
// (test_cuda_backend's CudaSession tests).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_memory_limit.hpp"

namespace llamux::cuda {
namespace {

TEST(CudaMemoryLimit, UnsetOrEmptyMeansNoLimit) {
    size_t bytes = 7;
    std::string why;
    EXPECT_TRUE(parse_memory_limit_mib(nullptr, &bytes, &why));
    EXPECT_EQ(bytes, 0u);
    EXPECT_TRUE(parse_memory_limit_mib("", &bytes, &why));
    EXPECT_EQ(bytes, 0u);
    EXPECT_TRUE(why.empty());
}

TEST(CudaMemoryLimit, WholeMiBBecomeBytes) {
    size_t bytes = 0;
    std::string why;
    EXPECT_TRUE(parse_memory_limit_mib("1", &bytes, &why));
    EXPECT_EQ(bytes, size_t{1} << 20);
    EXPECT_TRUE(parse_memory_limit_mib("4096", &bytes, &why));
    EXPECT_EQ(bytes, size_t{4096} << 20);
    const std::string largest = std::to_string(SIZE_MAX >> 20);
    EXPECT_TRUE(parse_memory_limit_mib(largest.c_str(), &bytes, &why));
    EXPECT_EQ(bytes, (SIZE_MAX >> 20) << 20);
}

TEST(CudaMemoryLimit, OtherValuesNameTheVariableRangeAndValue) {
    const std::string past_largest = std::to_string((SIZE_MAX >> 20) + 1);
    for (const char* value : {"12x", "-1", "0", " 5", "1.5", "99999999999999999999999", past_largest.c_str()}) {
        size_t bytes = 7;
        std::string why;
        EXPECT_FALSE(parse_memory_limit_mib(value, &bytes, &why)) << value;
        EXPECT_EQ(bytes, 0u) << value;
        EXPECT_NE(why.find("LLAMUX_CUDA_MEMORY_LIMIT_MIB: expected a whole number of MiB from 1 to "),
                  std::string::npos)
            << why;
        EXPECT_NE(why.find(std::string("got '") + value + "'"), std::string::npos) << why;
    }
}

}  // namespace
}  // namespace llamux::cuda
