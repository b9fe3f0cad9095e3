// LLAMUX_CUDA_MEMORY_LIMIT_MIB, the knob that makes the CUDA backend act as if the GPU had
// only that much memory (cuda_memory.cpp applies it). Plain C++, so its parsing is tested on
// every machine (tests/unit/test_cuda_memory_limit.cpp).
#pragma once

#include <cstddef>
#include <string>

namespace llamux::cuda {

// `value` as a limit in bytes: true with *bytes = 0 for null or empty (no limit) and with
// value << 20 for a whole number of MiB from 1 to SIZE_MAX >> 20; otherwise false with *why
// naming the variable, the accepted range and the value.
bool parse_memory_limit_mib(const char* value, size_t* bytes, std::string* why);

// The same for the environment's LLAMUX_CUDA_MEMORY_LIMIT_MIB.
bool read_memory_limit(size_t* bytes, std::string* why);

}  // namespace llamux::cuda
