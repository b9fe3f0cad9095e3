// Private pieces of the conformance suite (conformance.hpp): the host side of a case,
// the fixed case list (conformance_cases.cpp) and the per-op error bounds
// (conformance_bounds.cpp). conformance.cpp runs a case on a backend.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"

namespace llamux::conformance {

// Zero-filled host bytes aligned for any SIMD load (a zero-copy backend reads weights in
// place, as it reads them from the mmapped model file).
class AlignedBytes {
public:
    static constexpr size_t kAlignment = 64;
    AlignedBytes() = default;
    explicit AlignedBytes(size_t size);
    std::byte* data() const { return data_.get(); }
    size_t size() const { return size_; }

private:
    struct Delete {
        void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
    };
    std::unique_ptr<std::byte[], Delete> data_;
    size_t size_ = 0;
};

// One tensor of a case, in host memory, contiguous.
struct CaseTensor {
    std::string name;
    lmx_tensor t{};         // t.data points into bytes
    AlignedBytes bytes;     // the current contents
    AlignedBytes initial;   // the contents before each execution
    bool is_dst = false;    // the node's output: compared, and poisoned on the backend
    size_t size() const { return bytes.size(); }
    // bytes = initial
    void restore();
};

struct Case {
    lmx_op op = LMX_OP_NONE;
    std::string dtypes;  // "q4_K x f32 -> f32"
    std::string shape;   // "K=512 N=13 M=3"
    std::deque<CaseTensor> tensors;  // stable addresses: node points at them
    lmx_node node{};
    std::vector<int32_t> n_pasts{0};  // one execution (and one result) per value
};

// Every case of `only` (every op when LMX_OP_NONE), inputs drawn from a generator seeded
// with `seed` and the case's label, so a case's inputs do not depend on the filter.
std::deque<Case> make_cases(lmx_op only, uint32_t seed);

// All elements of a host tensor as floats, in logical order (ne[0] fastest). Handles F32,
// F16, BF16, the quantized types and I32.
std::vector<float> to_floats(const lmx_tensor& t);

// The error bound of each element of node.dst (logical order), for a node over host
// tensors and its reference output `expected`. See conformance.hpp for the formulas.
std::vector<double> element_bounds(const lmx_node& node, const lmx_exec_args& args,
                                   const std::vector<float>& expected);

}  // namespace llamux::conformance
