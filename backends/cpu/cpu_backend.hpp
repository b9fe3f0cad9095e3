// State of one CPU backend instance and the node executor it uses.
#pragma once

#include <string>
#include <vector>

#include "llamux/backend_abi.h"

namespace llamux::cpu {

struct CpuBackend {
    lmx_backend_config config{};
    int32_t n_threads = 1;
};

struct CpuProgram {
    std::vector<lmx_node> nodes;
};

// True if this backend can run the node (today: whatever the reference ops handle).
bool supports(const lmx_node& node);
// Runs the nodes of a program in order; fills *error on failure.
lmx_status execute(CpuBackend& backend, const CpuProgram& program, const lmx_exec_args& args,
                   std::string* error);

}  // namespace llamux::cpu
