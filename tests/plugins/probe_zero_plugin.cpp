// A plugin whose probe says it cannot run here (like a GPU plugin on a machine without GPU).
#include "llamux/plugin_support.hpp"

namespace {

void probe(lmx_probe_result* out) {
    out->score = 0;
    out->n_devices = 0;
    llamux::plugin::set_text(out->reason, "no test accelerator present");
}
lmx_status create(const lmx_backend_config*, lmx_backend**, lmx_error* err) {
    llamux::plugin::set_error(err, "must never be created");
    return LMX_ERR_DEVICE;
}
void destroy(lmx_backend*) {}
int32_t supports_node(lmx_backend*, const lmx_node*) { return 0; }
int32_t is_host_memory(lmx_backend*) { return 0; }
lmx_status buffer_alloc(lmx_backend*, size_t, lmx_buffer**, void**, lmx_error*) { return LMX_ERR_DEVICE; }
void buffer_free(lmx_backend*, lmx_buffer*) {}
lmx_status tensor_write(lmx_backend*, lmx_tensor*, const void*, size_t, size_t, lmx_error*) { return LMX_ERR_DEVICE; }
lmx_status tensor_read(lmx_backend*, const lmx_tensor*, void*, size_t, size_t, lmx_error*) { return LMX_ERR_DEVICE; }
lmx_status prepare_weight(lmx_backend*, lmx_tensor*, const void*, lmx_error*) { return LMX_ERR_DEVICE; }
void release_weight(lmx_backend*, lmx_tensor*) {}
lmx_status compile(lmx_backend*, const lmx_node*, int32_t, lmx_program**, lmx_error*) { return LMX_ERR_DEVICE; }
lmx_status execute(lmx_backend*, lmx_program*, const lmx_exec_args*, lmx_error*) { return LMX_ERR_DEVICE; }
void program_free(lmx_backend*, lmx_program*) {}
lmx_status synchronize(lmx_backend*, lmx_error*) { return LMX_OK; }

const lmx_backend_api kApi = {
    LMX_ABI_VERSION, sizeof(lmx_backend_api), "probe_zero", "test plugin that cannot run",
    probe, create, destroy, supports_node, is_host_memory, buffer_alloc, buffer_free,
    tensor_write, tensor_read, prepare_weight, release_weight, compile, execute,
    program_free, synchronize,
};

}  // namespace

extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t) { return &kApi; }
