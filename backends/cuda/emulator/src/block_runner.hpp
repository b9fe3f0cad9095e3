// Runs a kernel's grid on the calling host thread: block after block, each block's threads
// as fibers that switch only at barriers (device.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "cuda_emulator/device.hpp"

namespace cuemu {

// Runs `body` as every thread of every block of `grid`. Dynamic shared memory of
// `shared_bytes` is filled with 0xff bytes (NaN as floats) before each block, so a read of
// what the block did not write shows. Returns false, with the reason in *why, when the
// threads of a block wait at barriers that can never all be met.
bool run_grid(dim3 grid, dim3 block, size_t shared_bytes, const std::function<void()>& body, std::string* why);

}  // namespace cuemu
