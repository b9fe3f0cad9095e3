#include "cpu_backend.hpp"

#include "llamux/ops_ref.hpp"

namespace llamux::cpu {

bool supports(const lmx_node& node) { return supports_node_ref(node); }

lmx_status execute(CpuBackend& /*backend*/, const CpuProgram& program, const lmx_exec_args& args,
                   std::string* error) {
    for (const lmx_node& node : program.nodes) {
        const lmx_status s = run_node_ref(node, args, error);
        if (s != LMX_OK) return s;
    }
    return LMX_OK;
}

}  // namespace llamux::cpu
