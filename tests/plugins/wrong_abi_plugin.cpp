// A plugin built for a future ABI: the loader must refuse it, naming both versions.
#include "llamux/backend_abi.h"

namespace {
lmx_backend_api make_api() {
    lmx_backend_api api{};
    api.abi_version = LMX_ABI_VERSION + 98;
    api.struct_size = sizeof(lmx_backend_api);
    api.name = "wrong_abi";
    return api;
}
const lmx_backend_api kApi = make_api();
}  // namespace

extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t) { return &kApi; }
