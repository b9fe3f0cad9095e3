// Faulty test plugin "faulty_unsupported": says yes to every node in supports_node, then
// refuses rope with LMX_ERR_UNSUPPORTED -- in compile(), or in execute() when the
// environment has LLAMUX_TEST_FAULT_AT=execute.
#include <cstdlib>

#define FAULTY_PLUGIN_NAME "faulty_unsupported"
#include "faulty_plugin_base.hpp"

namespace faulty {
namespace {

bool at_execute() {
    const char* env = std::getenv("LLAMUX_TEST_FAULT_AT");
    return env && std::string(env) == "execute";
}

lmx_status refuse(const lmx_node& node, const char* call, lmx_error* err) {
    llamux::plugin::set_error(err, describe(node) + ": claimed by supports_node, but " + call +
                                       " cannot run rope after all");
    return LMX_ERR_UNSUPPORTED;
}

}  // namespace

lmx_status on_create(lmx_error*) { return LMX_OK; }
lmx_status on_prepare(const lmx_tensor&, int64_t, lmx_error*) { return LMX_OK; }
bool claims(const lmx_node&) { return true; }
lmx_status on_compile(const lmx_node& node, int32_t, int32_t, lmx_error* err) {
    return node.op == LMX_OP_ROPE && !at_execute() ? refuse(node, "compile", err) : LMX_OK;
}
lmx_status on_execute(const lmx_node& node, int32_t, int32_t, lmx_error* err) {
    return node.op == LMX_OP_ROPE && at_execute() ? refuse(node, "execute", err) : LMX_OK;
}
void after_node(const lmx_node&, const lmx_exec_args&) {}

}  // namespace faulty
