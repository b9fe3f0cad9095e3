// The tensor compute graph: tensor descriptors and nodes in execution order.
// A Graph says what to compute, not where or with which memory: the runtime's scheduler
// assigns backends and addresses when it binds a Graph.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"

namespace llamux {

using TensorId = int32_t;
constexpr TensorId kNoTensor = -1;

struct TensorDesc {
    std::string name;
    DType dtype = DType::F32;
    lmx_tensor_role role = LMX_ROLE_ACTIVATION;
    std::array<int64_t, LMX_MAX_DIMS> ne{1, 1, 1, 1};  // ne[0] is the contiguous row length
    std::array<size_t, LMX_MAX_DIMS> nb{};              // byte strides
    TensorId view_of = kNoTensor;  // a view shares the storage of another tensor
    size_t view_offset = 0;        // bytes from the start of that tensor
    int32_t layer = -1;            // owning layer for weights and caches

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    size_t n_bytes() const;  // of a contiguous tensor of this shape
    std::string shape_string() const;  // "64x512"
};

struct Node {
    lmx_op op = LMX_OP_NONE;
    int32_t layer = -1;
    std::array<TensorId, LMX_MAX_SRC> src{kNoTensor, kNoTensor, kNoTensor, kNoTensor};
    TensorId dst = kNoTensor;
    std::array<int32_t, 8> iparams{};
    std::array<float, 4> fparams{};
};

class Graph {
public:
    // A contiguous tensor of up to four dimensions (unused trailing ones are 1).
    TensorId add_tensor(std::string name, DType dtype, lmx_tensor_role role,
                        std::array<int64_t, LMX_MAX_DIMS> ne, int32_t layer = -1);
    // A contiguous view of `base` (which must itself be contiguous) with a new shape,
    // starting `offset` bytes in. Its element count may be smaller than the base's.
    TensorId add_view(TensorId base, std::string name, std::array<int64_t, LMX_MAX_DIMS> ne,
                      size_t offset = 0);
    // Appends a node; the reference is valid until the next add_node.
    Node& add_node(const Node& node) {
        nodes_.push_back(node);
        return nodes_.back();
    }

    const TensorDesc& tensor(TensorId id) const { return tensors_.at(static_cast<size_t>(id)); }
    const std::vector<TensorDesc>& tensors() const { return tensors_; }
    const std::vector<Node>& nodes() const { return nodes_; }
    // The tensor whose storage a tensor uses (itself unless it is a view).
    TensorId storage_of(TensorId id) const;

private:
    std::vector<TensorDesc> tensors_;
    std::vector<Node> nodes_;
};

std::string_view op_name(lmx_op op);

}  // namespace llamux
