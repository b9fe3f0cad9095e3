// Moving cached positions: the cache half of llama.cpp's context shift.
#pragma once

#include <cstdint>

#include "llamux/llama_graph.hpp"
#include "llamux/resident_tensors.hpp"

namespace llamux {

// Moves rows [from, from + n) of every block's key and value cache to [to, to + n)
// (to < from), turning the keys by (to - from) positions with the reference RoPE, so that
// they read as keys computed at their new positions (up to the rounding of the cache type).
// Works on any backend through tensor_read/tensor_write; rows outside the target range are
// left as they were. The host work (type conversions and the turn) runs on n_threads
// threads (0: all cores); the result does not depend on their number. Throws Error when a
// block's cache is missing.
void shift_kv_rows(KvCache& kv, const LlamaHParams& hp, int32_t from, int32_t to, int32_t n,
                   int32_t n_threads = 0);

}  // namespace llamux
