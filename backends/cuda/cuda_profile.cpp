// The per-node GPU time of LLAMUX_CUDA_PROFILE=1: see cuda_profile.hpp.
#include "cuda_profile.hpp"

#include <algorithm>
#include <cstdio>

#include "cuda_backend.hpp"
#include "cuda_stored_types.hpp"
#include "llamux/dtype.hpp"
#include "llamux/ir.hpp"

namespace llamux::cuda {
namespace {

const char* path_name(MatmulPath p) {
    switch (p) {
        case MatmulPath::Gemv: return "gemv";
        case MatmulPath::GemvQ8: return "gemv_q8";
        case MatmulPath::GemmF32: return "sgemm";
        case MatmulPath::GemmF16: return "gemm_f16";
        case MatmulPath::GemmDequant: return "gemm_dequant";
    }
    return "?";
}

std::string label(const CompiledNode& c) {
    const lmx_node& n = c.node;
    std::string s(op_name(static_cast<lmx_op>(n.op)));
    if (n.op == LMX_OP_MATMUL && c.weight) {
        const int32_t stored = c.weight->stored_dtype;
        s += std::string(" ") + path_name(c.path) + " " +
             std::string(dtype_name(static_cast<DType>(blocks_type(stored)))) +
             (is_split_type(stored) ? " split" : "") + " " +
             std::to_string(n.src[0]->ne[0]) + "x" + std::to_string(c.weight->n_rows);
    }
    return s;
}

}  // namespace

void NodeProfile::before(cudaStream_t stream, size_t i) {
    while (events_.size() <= i + 1) {
        cudaEvent_t e = nullptr;
        if (cudaEventCreate(&e) != cudaSuccess) return;
        events_.push_back(e);
    }
    cudaEventRecord(events_[i], stream);
    used_ = i + 1;
}

void NodeProfile::finish(cudaStream_t stream, const std::vector<CompiledNode>& nodes) {
    if (used_ == 0 || used_ >= events_.size()) return;
    cudaEventRecord(events_[used_], stream);
    if (cudaEventSynchronize(events_[used_]) != cudaSuccess) return;
    for (size_t i = 0; i < used_ && i < nodes.size(); ++i) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, events_[i], events_[i + 1]) != cudaSuccess) continue;
        Total& t = totals_[label(nodes[i])];
        t.ms += ms;
        ++t.count;
    }
    used_ = 0;
}

void NodeProfile::report_and_release() {
    if (!totals_.empty()) {
        std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
        double all = 0;
        for (const auto& r : rows) all += r.second.ms;
        std::fprintf(stderr, "cuda profile: GPU time per node kind (events around each node), total %.1f ms\n", all);
        std::fprintf(stderr, "%10s %6s %9s %10s  %s\n", "ms", "%", "count", "us/node", "node");
        for (const auto& [name, t] : rows) {
            std::fprintf(stderr, "%10.2f %6.1f %9ld %10.2f  %s\n", t.ms, 100.0 * t.ms / all, t.count,
                         1000.0 * t.ms / static_cast<double>(t.count), name.c_str());
        }
    }
    totals_.clear();
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    events_.clear();
}

}  // namespace llamux::cuda
