#include "cuda_fusion_safety.hpp"

#include "llamux/dtype.hpp"

namespace llamux::cuda {

ByteRange byte_range(const lmx_tensor& t) {
    const auto begin = reinterpret_cast<uintptr_t>(t.data);
    // One row's bytes (whole blocks for the block types), then the outer dimensions' strides.
    const auto row = row_bytes(static_cast<DType>(t.dtype), t.ne[0]);
    uintptr_t extent = row ? *row : static_cast<uintptr_t>(t.ne[0]) * t.nb[0];
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1) extent += static_cast<uintptr_t>(t.ne[k] - 1) * t.nb[k];
    }
    return ByteRange{begin, begin + extent};
}

bool overlaps(const ByteRange& a, const ByteRange& b) {
    return a.begin < b.end && b.begin < a.end && a.begin < a.end && b.begin < b.end;
}

bool same_view(const lmx_tensor& a, const lmx_tensor& b) {
    if (a.dtype != b.dtype || a.data != b.data) return false;
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k] || (a.ne[k] > 1 && a.nb[k] != b.nb[k])) return false;
    }
    return true;
}

namespace {

bool handed_off(int from, int to, const FusedHandoff* handoffs, int n_handoffs) {
    for (int h = 0; h < n_handoffs; ++h) {
        if (handoffs[h].from == from && handoffs[h].to == to) return true;
    }
    return false;
}

}  // namespace

bool fusable_in_one_kernel(const lmx_node* nodes, int n, const FusedHandoff* handoffs, int n_handoffs) {
    for (int j = 1; j < n; ++j) {
        const ByteRange wj = byte_range(*nodes[j].dst);
        for (int i = 0; i < j; ++i) {
            const ByteRange wi = byte_range(*nodes[i].dst);
            if (overlaps(wi, wj)) return false;  // both write the same bytes
            for (const lmx_tensor* s : nodes[i].src) {
                if (s && overlaps(byte_range(*s), wj)) return false;  // j overwrites what i reads
            }
            for (const lmx_tensor* s : nodes[j].src) {
                if (!s || !overlaps(byte_range(*s), wi)) continue;
                // j reads what i writes: only as a handoff of exactly that tensor.
                if (!same_view(*s, *nodes[i].dst) || !handed_off(i, j, handoffs, n_handoffs)) return false;
            }
        }
    }
    return true;
}

}  // namespace llamux::cuda
