// When consecutive nodes may run as one kernel. Running nodes in order guarantees that each
// reads its inputs before a later node overwrites them; one kernel whose blocks work on
// different nodes' parts at the same time does not. The runtime's memory planner reuses an
// activation's bytes soon after its last reader has run (runtime/src/execution_plan.cpp), so
// a later node's output can sit where an earlier node's input was. It keeps them one node
// apart (kReuseDelay), which is what lets rope(q) join rope(k) and the KV stores; without
// that, rope(k)'s output landed on q, whose last reader is the rope(q) just before, and a
// kernel doing both ropes at once overwrote q while other blocks still read it.
//
// Plain C++ on the ABI's node and tensor structs (no CUDA), so the rule is tested on every
// machine (tests/unit/test_cuda_fusion_safety.cpp).
#pragma once

#include <cstdint>

#include "llamux/backend_abi.h"

namespace llamux::cuda {

// The bytes a tensor's elements occupy: [begin, end), from its shape and strides.
struct ByteRange {
    uintptr_t begin = 0, end = 0;
};
ByteRange byte_range(const lmx_tensor& t);
bool overlaps(const ByteRange& a, const ByteRange& b);

// A value the fused kernel hands from one node to a later one itself (in registers), so that
// the later node's read of it is not a read of memory: node `to` reads exactly the tensor
// (same bytes, shape and strides) that node `from` writes.
struct FusedHandoff {
    int from = -1, to = -1;
};

// Same type, memory, shape and strides.
bool same_view(const lmx_tensor& a, const lmx_tensor& b);

// True when nodes[0..n) may run as one kernel that computes every node from its inputs as
// they were before the first node ran: no node writes bytes that an earlier node of the set
// reads or writes, and no node reads bytes that an earlier node writes, except the handoffs
// (which the kernel passes on itself).
bool fusable_in_one_kernel(const lmx_node* nodes, int n, const FusedHandoff* handoffs, int n_handoffs);

}  // namespace llamux::cuda
