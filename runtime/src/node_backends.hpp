// Step 1 of the scheduler (execution_plan.hpp): which backend runs each node of a graph.
// Kept apart so that a session can ask the same question without building a plan, e.g. to
// tell whether a layer's KV cache would live on the GPU.
#pragma once

#include <memory>
#include <vector>

#include "llamux/backend_set.hpp"
#include "llamux/ir.hpp"
#include "llamux/placement.hpp"

namespace llamux {

struct NodeBackends {
    std::vector<std::shared_ptr<Backend>> of_node;  // in node order
    size_t n_fallback = 0;                          // nodes moved to the host backend
};

// Each node gets the backend its layer is placed on, or the host backend where that one
// declines it (asked with shapes only, data pointers null). A layer's KV stores and attention
// share the cache, so when any of them runs on the host, all of them do. Every backend named
// by `placement` must be in `backends`. Logs each declined (backend, op) pair once per process.
NodeBackends choose_node_backends(const Graph& graph, const Placement& placement, const BackendSet& backends);

}  // namespace llamux
