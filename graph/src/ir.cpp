#include "llamux/ir.hpp"

#include "llamux/error.hpp"

namespace llamux {
namespace {

void set_contiguous_strides(TensorDesc& t) {
    const auto& ti = info(t.dtype);
    t.nb[0] = ti.type_size;
    t.nb[1] = t.nb[0] * static_cast<size_t>(t.ne[0] / ti.block_size);
    t.nb[2] = t.nb[1] * static_cast<size_t>(t.ne[1]);
    t.nb[3] = t.nb[2] * static_cast<size_t>(t.ne[2]);
}

}  // namespace

size_t TensorDesc::n_bytes() const {
    const auto& ti = info(dtype);
    return static_cast<size_t>(ne[0] / ti.block_size) * ti.type_size *
           static_cast<size_t>(n_rows());
}

std::string TensorDesc::shape_string() const {
    int dims = LMX_MAX_DIMS;
    while (dims > 1 && ne[static_cast<size_t>(dims - 1)] == 1) --dims;
    std::string s;
    for (int i = 0; i < dims; ++i) {
        if (i) s += 'x';
        s += std::to_string(ne[static_cast<size_t>(i)]);
    }
    return s;
}

TensorId Graph::add_tensor(std::string name, DType dtype, lmx_tensor_role role,
                           std::array<int64_t, LMX_MAX_DIMS> ne, int32_t layer) {
    TensorDesc t;
    t.name = std::move(name);
    t.dtype = dtype;
    t.role = role;
    t.ne = ne;
    t.layer = layer;
    if (ne[0] % info(dtype).block_size != 0) {
        throw Error("tensor " + t.name + ": row length " + std::to_string(ne[0]) +
                    " is not a multiple of the " + std::string(dtype_name(dtype)) +
                    " block size " + std::to_string(info(dtype).block_size));
    }
    set_contiguous_strides(t);
    tensors_.push_back(std::move(t));
    return static_cast<TensorId>(tensors_.size() - 1);
}

TensorId Graph::add_view(TensorId base, std::string name, std::array<int64_t, LMX_MAX_DIMS> ne,
                         size_t offset) {
    const TensorDesc& b = tensor(base);
    TensorDesc t;
    t.name = std::move(name);
    t.dtype = b.dtype;
    t.role = b.role;
    t.ne = ne;
    t.layer = b.layer;
    t.view_of = storage_of(base);
    t.view_offset = (b.view_of == kNoTensor ? 0 : b.view_offset) + offset;
    set_contiguous_strides(t);
    if (offset + t.n_bytes() > b.n_bytes()) {
        throw Error("view " + t.name + " of " + b.name + ": " + std::to_string(offset + t.n_bytes()) +
                    " bytes past a tensor of " + std::to_string(b.n_bytes()));
    }
    tensors_.push_back(std::move(t));
    return static_cast<TensorId>(tensors_.size() - 1);
}

TensorId Graph::storage_of(TensorId id) const {
    const TensorDesc& t = tensor(id);
    return t.view_of == kNoTensor ? id : t.view_of;
}

std::string_view op_name(lmx_op op) {
    switch (op) {
        case LMX_OP_NONE: return "none";
        case LMX_OP_GET_ROWS: return "get_rows";
        case LMX_OP_RMS_NORM: return "rms_norm";
        case LMX_OP_MATMUL: return "matmul";
        case LMX_OP_ROPE: return "rope";
        case LMX_OP_KV_STORE: return "kv_store";
        case LMX_OP_ATTENTION: return "attention";
        case LMX_OP_SWIGLU: return "swiglu";
        case LMX_OP_ADD: return "add";
        case LMX_OP_COPY: return "copy";
        case LMX_OP_COUNT: break;
    }
    return "unknown";
}

}  // namespace llamux
