// Faulty test plugin "faulty_execute": compiles fine, then a device fault stops every
// execute() halfway through its program, after the first half of the nodes ran.
#define FAULTY_PLUGIN_NAME "faulty_execute"
#include "faulty_plugin_base.hpp"

namespace faulty {

lmx_status on_create(lmx_error*) { return LMX_OK; }
lmx_status on_prepare(const lmx_tensor&, int64_t, lmx_error*) { return LMX_OK; }
bool claims(const lmx_node& node) { return llamux::supports_node_ref(node); }
lmx_status on_compile(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
lmx_status on_execute(const lmx_node& node, int32_t index, int32_t n_nodes, lmx_error* err) {
    if (index != n_nodes / 2) return LMX_OK;
    llamux::plugin::set_error(err, "simulated device fault at node " + std::to_string(index) +
                                       " of " + std::to_string(n_nodes) + ": " + describe(node));
    return LMX_ERR_DEVICE;
}
void after_node(const lmx_node&, const lmx_exec_args&) {}

}  // namespace faulty
