// The scheduler: binds a static Graph to backends and memory, once, and runs it many times.
//
// At construction it
//  1. assigns every node the backend its layer is placed on, falling back to the host
//     backend for nodes that backend declines (a layer's KV store and attention move
//     together, since they share the cache);
//  2. splits the node list into runs of consecutive nodes on one backend;
//  3. inserts a copy of each activation that crosses from one backend to another, before
//     the run that first needs it;
//  4. gives every activation an offset in one buffer per backend, reusing memory of
//     tensors no longer needed (liveness over the step list);
//  5. compiles each run into a backend program.
// run() then only copies inputs and executes the steps.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "llamux/backend_set.hpp"
#include "llamux/ir.hpp"
#include "llamux/placement.hpp"
#include "llamux/resident_tensors.hpp"

namespace llamux {

class ExecutionPlan {
public:
    // graph, backends, weights and kv must outlive the plan.
    ExecutionPlan(const Graph& graph, const Placement& placement, const BackendSet& backends,
                  WeightStore& weights, KvCache& kv);
    ~ExecutionPlan();
    ExecutionPlan(const ExecutionPlan&) = delete;
    ExecutionPlan& operator=(const ExecutionPlan&) = delete;

    // Sets an INPUT tensor's bytes (host memory, exactly the tensor's size).
    void write_input(TensorId id, const void* data, size_t bytes);
    // Executes every step with the cache already holding n_past positions.
    void run(int32_t n_past);
    // Reads an OUTPUT tensor's bytes.
    void read_output(TensorId id, void* data, size_t bytes);

    struct Stats {
        size_t n_runs = 0;
        size_t n_copies = 0;
        size_t n_fallback_nodes = 0;
    };
    const Stats& stats() const { return stats_; }
    // The backend each node runs on, in node order (for tests and -v).
    const std::vector<std::string>& node_backends() const { return node_backend_names_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Stats stats_;
    std::vector<std::string> node_backend_names_;
};

}  // namespace llamux
