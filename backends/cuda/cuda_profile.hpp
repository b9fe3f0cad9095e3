// Optional GPU time per kind of node (LLAMUX_CUDA_PROFILE=1, Settings::profile): events
// around every node of every execute, summed per label ("matmul gemv Q4_0 4096x4096") and
// printed to stderr, slowest first, when the backend is destroyed. Each profiled execute
// waits for its own events, so the totals say where GPU time goes, not how fast an
// unprofiled run is.
#pragma once

#include <cuda_runtime_api.h>

#include <map>
#include <string>
#include <vector>

namespace llamux::cuda {

struct CompiledNode;

class NodeProfile {
public:
    // Queues the event before node i (call once per node, in order, then finish()).
    void before(cudaStream_t stream, size_t i);
    // Queues the last event, waits for it and adds each node's time to its label's total.
    void finish(cudaStream_t stream, const std::vector<CompiledNode>& nodes);
    // Prints the table (if anything was timed) and frees the events.
    void report_and_release();

private:
    struct Total {
        double ms = 0;
        long count = 0;
    };
    std::vector<cudaEvent_t> events_;
    std::map<std::string, Total> totals_;
    size_t used_ = 0;
};

}  // namespace llamux::cuda
