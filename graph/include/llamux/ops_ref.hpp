// Scalar reference implementation of every op in lmx_op, on host memory. This is the
// definition of what each op computes (see backend_abi.h for shapes and params); every
// backend is tested against it by the op-conformance suite.
#pragma once

#include <string>

#include "llamux/backend_abi.h"

namespace llamux {

// 1 if run_node_ref handles this node's op, dtypes and shapes.
bool supports_node_ref(const lmx_node& node);

// Runs one node. All tensors are host memory with contiguous rows (nb[0] = element or block
// size, rows may be strided by nb[1..3]). Returns LMX_OK, or an error status with a message
// naming the node's dst tensor, the expected and the actual value.
lmx_status run_node_ref(const lmx_node& node, const lmx_exec_args& args, std::string* error);

}  // namespace llamux
