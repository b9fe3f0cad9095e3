// Faulty test plugin "faulty_prepare": runs out of device memory while uploading weights,
// after four weights succeeded (which the runtime must then release). Like the GPU plugins,
// it declines quantized KV caches, so that a session's out-of-memory hint can be tested
// with a cache that stays on the host.
#define FAULTY_PLUGIN_NAME "faulty_prepare"
#include "faulty_plugin_base.hpp"
#include "llamux/dtype.hpp"

namespace faulty {

lmx_status on_create(lmx_error*) { return LMX_OK; }
lmx_status on_prepare(const lmx_tensor&, int64_t index, lmx_error* err) {
    if (index < 4) return LMX_OK;
    llamux::plugin::set_error(err, "simulated failure: device memory exhausted after " +
                                       std::to_string(index) + " weights");
    return LMX_ERR_OUT_OF_MEMORY;
}
bool claims(const lmx_node& node) {
    const auto quantized = [](const lmx_tensor* t) {
        const auto type = llamux::dtype_info(t->dtype);
        return !type || type->quantized;
    };
    if (node.op == LMX_OP_KV_STORE && quantized(node.dst)) return false;
    if (node.op == LMX_OP_ATTENTION && (quantized(node.src[1]) || quantized(node.src[2]))) return false;
    return llamux::supports_node_ref(node);
}
lmx_status on_compile(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
lmx_status on_execute(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
void after_node(const lmx_node&, const lmx_exec_args&) {}

}  // namespace faulty
