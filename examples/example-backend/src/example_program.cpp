// Which nodes the example backend takes, and how a program of them runs.
#include <cstddef>

#include "example_backend.hpp"
#include "llamux/ir.hpp"       // op_name, for messages
#include "llamux/ops_ref.hpp"  // supports_node_ref: the reference's shape checks

namespace example {
namespace {

bool is_f32_rows(const lmx_tensor* t) {
    return t && t->dtype == LMX_TYPE_F32 && t->nb[0] == sizeof(float);
}

// Row (i1, i2, i3) of a tensor: ne[0] contiguous floats; rows may be strided.
float* row(const lmx_tensor& t, int64_t r) {
    const int64_t i1 = r % t.ne[1];
    const int64_t i2 = (r / t.ne[1]) % t.ne[2];
    const int64_t i3 = r / (t.ne[1] * t.ne[2]);
    return reinterpret_cast<float*>(static_cast<std::byte*>(t.data) + static_cast<size_t>(i1) * t.nb[1] +
                                    static_cast<size_t>(i2) * t.nb[2] + static_cast<size_t>(i3) * t.nb[3]);
}

int64_t n_rows(const lmx_tensor& t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

std::string describe(const lmx_node& node) {
    const bool known = node.op > LMX_OP_NONE && node.op < LMX_OP_COUNT;
    std::string s = known ? std::string(llamux::op_name(static_cast<lmx_op>(node.op)))
                          : "op " + std::to_string(node.op);
    s += " node ";
    s += node.dst && node.dst->name ? node.dst->name : "(unnamed)";
    return s;
}

}  // namespace

bool supports(const lmx_node& node) {
    switch (node.op) {
        case LMX_OP_ADD:
        case LMX_OP_SWIGLU:
        case LMX_OP_RMS_NORM: break;
        default: return false;  // the host backend runs everything else
    }
    if (!is_f32_rows(node.src[0]) || !is_f32_rows(node.src[1]) || !is_f32_rows(node.dst)) return false;
    // Shapes and params (one shape for add/swiglu, w[n] for rms_norm, eps >= 0): the
    // reference checks them without touching data, which is still null here.
    return llamux::supports_node_ref(node);
}

lmx_status compile(const lmx_node* nodes, int32_t n_nodes, Program& out, std::string* error) {
    out.nodes.clear();
    for (int32_t i = 0; i < n_nodes; ++i) {
        if (!supports(nodes[i])) {
            *error = describe(nodes[i]) + ": not supported by the example backend (supports_node said 0)";
            return LMX_ERR_UNSUPPORTED;
        }
        out.nodes.push_back(nodes[i]);
    }
    return LMX_OK;
}

lmx_status execute(const Program& program, std::string* error) {
    for (const lmx_node& node : program.nodes) {
        const lmx_tensor& dst = *node.dst;
        const int64_t n = dst.ne[0];
        for (int64_t r = 0; r < n_rows(dst); ++r) {
            switch (node.op) {
                case LMX_OP_ADD:
                    add_f32(row(dst, r), row(*node.src[0], r), row(*node.src[1], r), n);
                    break;
                case LMX_OP_SWIGLU:
                    swiglu_f32(row(dst, r), row(*node.src[0], r), row(*node.src[1], r), n);
                    break;
                case LMX_OP_RMS_NORM:
                    rms_norm_f32(row(dst, r), row(*node.src[0], r),
                                 static_cast<const float*>(node.src[1]->data), n, node.fparams[0]);
                    break;
                default:
                    *error = describe(node) + ": reached execute although compile checked it";
                    return LMX_ERR_INTERNAL;
            }
        }
    }
    return LMX_OK;
}

}  // namespace example
