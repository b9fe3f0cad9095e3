// The example backend's state, its compiled programs and its kernels.
//
// It runs three ops itself -- add, swiglu and rms_norm, in plain C++ on host memory -- and
// declines everything else, which the llamux scheduler then runs on the host (CPU) backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"

namespace example {

// One lmx_backend: what create() made from the host's config.
struct Backend {
    lmx_backend_config config{};  // config.log stays valid until destroy()
};

// ---- kernels: output first, one per file, rows of n contiguous floats ----------------------

// y[i] = a[i] + b[i]                                                    (kernel_add.cpp)
void add_f32(float* y, const float* a, const float* b, int64_t n);
// y[i] = silu(g[i]) * u[i], silu(v) = v / (1 + e^-v)                  (kernel_swiglu.cpp)
void swiglu_f32(float* y, const float* g, const float* u, int64_t n);
// y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]                         (kernel_rms_norm.cpp)
void rms_norm_f32(float* y, const float* x, const float* w, int64_t n, float eps);

// ---- programs (example_program.cpp) ----------------------------------------------------------

// True when this backend runs the node: one of its three ops, F32 rows of contiguous
// elements, and shapes the reference accepts.
bool supports(const lmx_node& node);

// A compiled run of nodes. The nodes (and the tensors they point to) stay valid until
// program_free, so the program keeps a copy of each node and reads data pointers at
// execute time.
struct Program {
    std::vector<lmx_node> nodes;
};

// Checks every node once; on failure returns LMX_ERR_UNSUPPORTED and names the node.
lmx_status compile(const lmx_node* nodes, int32_t n_nodes, Program& out, std::string* error);
// Runs the program's nodes in order.
lmx_status execute(const Program& program, std::string* error);

}  // namespace example
