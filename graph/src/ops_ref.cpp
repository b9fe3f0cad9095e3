// Reference ops: dispatch, the checks shared by every op, and error messages.
// The ops themselves live in ops_ref_elementwise.cpp (get_rows, rms_norm, swiglu, add,
// copy), ops_ref_matmul.cpp and ops_ref_attention.cpp (rope, kv_store, attention).
#include "llamux/ops_ref.hpp"

#include <cstring>
#include <exception>
#include <new>

#include "llamux/ir.hpp"
#include "llamux/quant_ref.hpp"
#include "ops_ref_common.hpp"

namespace llamux {
namespace ref {

std::string shape_str(const lmx_tensor& t) {
    int dims = LMX_MAX_DIMS;
    while (dims > 1 && t.ne[dims - 1] == 1) --dims;
    std::string s;
    for (int i = 0; i < dims; ++i) {
        if (i) s += 'x';
        s += std::to_string(t.ne[i]);
    }
    return s;
}

std::string dtype_str(int32_t dtype) {
    const auto i = dtype_info(dtype);
    return i ? std::string(i->name) : "unknown type " + std::to_string(dtype);
}

std::string tensor_label(const lmx_tensor* t, const char* fallback) {
    std::string s = fallback;
    if (t && t->name && t->name[0]) {
        s += ' ';
        s += t->name;
    }
    return s;
}

lmx_status check_tensor(const lmx_tensor* t, const char* what, std::string* why) {
    if (!t) {
        *why = std::string(what) + ": expected a tensor, got none";
        return LMX_ERR_INVALID;
    }
    const std::string label = tensor_label(t, what);
    const auto ti = dtype_info(t->dtype);
    if (!ti) {
        *why = label + ": unknown dtype id " + std::to_string(t->dtype);
        return LMX_ERR_INVALID;
    }
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (t->ne[k] < 1) {
            *why = label + ": ne[" + std::to_string(k) + "] expected >= 1, got " +
                   std::to_string(t->ne[k]);
            return LMX_ERR_INVALID;
        }
    }
    if (t->ne[0] % ti->block_size != 0) {
        *why = label + ": row length " + std::to_string(t->ne[0]) + " is not a multiple of the " +
               std::string(ti->name) + " block size " + std::to_string(ti->block_size);
        return LMX_ERR_INVALID;
    }
    if (t->nb[0] != ti->type_size) {
        *why = label + ": nb[0] expected " + std::to_string(ti->type_size) + " (" +
               std::string(ti->name) + "), got " + std::to_string(t->nb[0]);
        return LMX_ERR_UNSUPPORTED;
    }
    // Rows must not overlap: each stride covers the extent of the dimension below it.
    size_t extent = static_cast<size_t>(t->ne[0] / ti->block_size) * ti->type_size;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t->ne[k] > 1 && t->nb[k] < extent) {
            *why = label + ": nb[" + std::to_string(k) + "] expected >= " +
                   std::to_string(extent) + " (rows must not overlap), got " +
                   std::to_string(t->nb[k]);
            return LMX_ERR_UNSUPPORTED;
        }
        if (t->ne[k] > 1) extent = t->nb[k] * static_cast<size_t>(t->ne[k]);
    }
    return LMX_OK;
}

lmx_status check_dtype(const lmx_tensor& t, const char* what, std::initializer_list<DType> allowed,
                       std::string* why) {
    for (DType d : allowed) {
        if (static_cast<int32_t>(d) == t.dtype) return LMX_OK;
    }
    std::string names;
    for (DType d : allowed) {
        if (!names.empty()) names += '/';
        names += dtype_name(d);
    }
    *why = tensor_label(&t, what) + ": expected dtype " + names + ", got " + dtype_str(t.dtype);
    return LMX_ERR_UNSUPPORTED;
}

lmx_status check_same_shape(const lmx_tensor& a, const char* what_a, const lmx_tensor& b,
                            const char* what_b, std::string* why) {
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k]) {
            *why = tensor_label(&b, what_b) + ": expected the shape of " +
                   tensor_label(&a, what_a) + " " + shape_str(a) + ", got " + shape_str(b);
            return LMX_ERR_INVALID;
        }
    }
    return LMX_OK;
}

lmx_status check_dim(const lmx_tensor& t, const char* what, int k, int64_t want,
                     const char* meaning, std::string* why) {
    if (t.ne[k] == want) return LMX_OK;
    *why = tensor_label(&t, what) + ": ne[" + std::to_string(k) + "] (" + meaning +
           ") expected " + std::to_string(want) + ", got " + std::to_string(t.ne[k]) +
           " (shape " + shape_str(t) + ")";
    return LMX_ERR_INVALID;
}

bool is_contiguous(const lmx_tensor& t) {
    const auto ti = dtype_info(t.dtype);
    if (!ti || t.nb[0] != ti->type_size) return false;
    size_t expected = static_cast<size_t>(t.ne[0] / ti->block_size) * ti->type_size;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1 && t.nb[k] != expected) return false;
        expected *= static_cast<size_t>(t.ne[k]);
    }
    return true;
}

void load_row_f32(int32_t dtype, const void* src, float* dst, int64_t n) {
    switch (dtype) {
        case LMX_TYPE_F32:
            if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
        case LMX_TYPE_F16: {
            const auto* h = static_cast<const f16_bits*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
            return;
        }
        case LMX_TYPE_BF16: {
            const auto* h = static_cast<const bf16_bits*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
            return;
        }
        default:
            dequantize_row_ref(static_cast<DType>(dtype), src, dst, n);
            return;
    }
}

void store_row_f32(int32_t dtype, const float* src, void* dst, int64_t n) {
    switch (dtype) {
        case LMX_TYPE_F32:
            if (src != dst) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
            return;
        case LMX_TYPE_F16: {
            auto* h = static_cast<f16_bits*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(src[i]);
            return;
        }
        case LMX_TYPE_BF16: {
            auto* h = static_cast<bf16_bits*>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
            return;
        }
        default:
            quantize_row_ref(static_cast<DType>(dtype), src, dst, n);
            return;
    }
}

}  // namespace ref

namespace {

lmx_status check_node(const lmx_node& node, std::string* why) {
    if (!node.dst) {
        *why = "dst: expected a tensor, got none";
        return LMX_ERR_INVALID;
    }
    switch (node.op) {
        case LMX_OP_GET_ROWS: return ref::check_get_rows(node, why);
        case LMX_OP_RMS_NORM: return ref::check_rms_norm(node, why);
        case LMX_OP_MATMUL: return ref::check_matmul(node, why);
        case LMX_OP_ROPE: return ref::check_rope(node, why);
        case LMX_OP_KV_STORE: return ref::check_kv_store(node, why);
        case LMX_OP_ATTENTION: return ref::check_attention(node, why);
        case LMX_OP_SWIGLU: return ref::check_swiglu(node, why);
        case LMX_OP_ADD: return ref::check_add(node, why);
        case LMX_OP_COPY: return ref::check_copy(node, why);
        default:
            *why = "op id " + std::to_string(node.op) + " is not implemented by the reference";
            return LMX_ERR_UNSUPPORTED;
    }
}

// Every tensor the node names must have memory when it runs.
lmx_status check_data(const lmx_node& node, std::string* why) {
    for (int i = 0; i < LMX_MAX_SRC; ++i) {
        const lmx_tensor* s = node.src[i];
        if (s && !s->data) {
            *why = ref::tensor_label(s, ("src[" + std::to_string(i) + "]").c_str()) +
                   ": expected host data, got a null data pointer";
            return LMX_ERR_INVALID;
        }
    }
    if (!node.dst->data) {
        *why = ref::tensor_label(node.dst, "dst") + ": expected host data, got a null data pointer";
        return LMX_ERR_INVALID;
    }
    return LMX_OK;
}

lmx_status run_checked(const lmx_node& node, const lmx_exec_args& args, std::string* why) {
    switch (node.op) {
        case LMX_OP_GET_ROWS: return ref::run_get_rows(node, why);
        case LMX_OP_RMS_NORM: return ref::run_rms_norm(node);
        case LMX_OP_MATMUL: return ref::run_matmul(node);
        case LMX_OP_ROPE: return ref::run_rope(node);
        case LMX_OP_KV_STORE: return ref::run_kv_store(node, args, why);
        case LMX_OP_ATTENTION: return ref::run_attention(node, args, why);
        case LMX_OP_SWIGLU: return ref::run_swiglu(node);
        case LMX_OP_ADD: return ref::run_add(node);
        case LMX_OP_COPY: return ref::run_copy(node);
        default: return LMX_ERR_UNSUPPORTED;  // check_node refused it already
    }
}

// "rms_norm l3.attn_norm: " -- the prefix of every message about this node.
std::string node_prefix(const lmx_node& node) {
    const bool known = node.op > LMX_OP_NONE && node.op < LMX_OP_COUNT;
    std::string s = known ? std::string(op_name(static_cast<lmx_op>(node.op)))
                          : "op " + std::to_string(node.op);
    s += ' ';
    s += node.dst && node.dst->name && node.dst->name[0] ? node.dst->name : "(unnamed dst)";
    if (node.layer >= 0) s += " (layer " + std::to_string(node.layer) + ")";
    return s + ": ";
}

}  // namespace

bool supports_node_ref(const lmx_node& node) {
    try {
        std::string why;
        return check_node(node, &why) == LMX_OK;
    } catch (...) {
        return false;
    }
}

lmx_status run_node_ref(const lmx_node& node, const lmx_exec_args& args, std::string* error) {
    std::string why;
    lmx_status status = LMX_OK;
    try {
        status = check_node(node, &why);
        if (status == LMX_OK) status = check_data(node, &why);
        if (status == LMX_OK) status = run_checked(node, args, &why);
    } catch (const std::bad_alloc&) {
        status = LMX_ERR_OUT_OF_MEMORY;
        why = "out of host memory";
    } catch (const std::exception& e) {
        status = LMX_ERR_INTERNAL;
        why = std::string("internal error: ") + e.what();
    } catch (...) {
        status = LMX_ERR_INTERNAL;
        why = "internal error: unknown exception";
    }
    if (status != LMX_OK && error) {
        try {
            *error = node_prefix(node) + why;
        } catch (...) {
            // Out of memory while formatting: the status alone has to do.
        }
    }
    return status;
}

}  // namespace llamux
