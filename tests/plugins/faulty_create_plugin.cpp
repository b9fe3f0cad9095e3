// Faulty test plugin "faulty_create": loads and probes fine, but create() fails, as a GPU
// plugin does when the driver refuses a context.
#define FAULTY_PLUGIN_NAME "faulty_create"
#include "faulty_plugin_base.hpp"

namespace faulty {

lmx_status on_create(lmx_error* err) {
    llamux::plugin::set_error(err, "simulated failure: the test device refused a context");
    return LMX_ERR_DEVICE;
}
lmx_status on_prepare(const lmx_tensor&, int64_t, lmx_error*) { return LMX_OK; }
bool claims(const lmx_node& node) { return llamux::supports_node_ref(node); }
lmx_status on_compile(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
lmx_status on_execute(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
void after_node(const lmx_node&, const lmx_exec_args&) {}

}  // namespace faulty
