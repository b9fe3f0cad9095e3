// Plugin: opening one library, checking its ABI table and taking its probe.
#include "llamux/plugin.hpp"

#include <boost/dll/shared_library.hpp>

#include "llamux/error.hpp"

namespace llamux {

namespace fs = std::filesystem;

struct Plugin::Library {
    boost::dll::shared_library lib;
};

Plugin::~Plugin() = default;

std::shared_ptr<Plugin> Plugin::load(const fs::path& file) {
    std::shared_ptr<Plugin> p(new Plugin());
    p->file_ = file;
    p->library_ = std::make_unique<Library>();
    boost::dll::fs::error_code ec;
    p->library_->lib.load(file, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local,
                          ec);
    if (ec) {
        throw Error("plugin " + file.string() + ": not a loadable library (" + ec.message() + ")");
    }
    if (!p->library_->lib.has(LMX_ENTRY_POINT)) {
        throw Error("plugin " + file.string() + ": no entry point " LMX_ENTRY_POINT);
    }
    auto get_api = p->library_->lib.get<const lmx_backend_api*(uint32_t)>(LMX_ENTRY_POINT);
    p->api_ = get_api(LMX_ABI_VERSION);
    if (!p->api_) {
        throw Error("plugin " + file.string() + ": " LMX_ENTRY_POINT " returned no table for ABI " +
                    std::to_string(LMX_ABI_VERSION));
    }
    if (p->api_->abi_version != LMX_ABI_VERSION) {
        throw Error("plugin " + file.string() + ": ABI version " +
                    std::to_string(p->api_->abi_version) + ", this llamux expects " +
                    std::to_string(LMX_ABI_VERSION));
    }
    if (p->api_->struct_size < sizeof(lmx_backend_api)) {
        throw Error("plugin " + file.string() + ": API table of " +
                    std::to_string(p->api_->struct_size) + " bytes, expected " +
                    std::to_string(sizeof(lmx_backend_api)));
    }
    const lmx_backend_api& api = *p->api_;
    if (!api.name || !*api.name || !api.probe || !api.create || !api.destroy ||
        !api.supports_node || !api.is_host_memory || !api.buffer_alloc || !api.buffer_free ||
        !api.tensor_write || !api.tensor_read || !api.prepare_weight || !api.release_weight ||
        !api.compile || !api.execute || !api.program_free || !api.synchronize) {
        throw Error("plugin " + file.string() + ": API table has a null name or function");
    }
    p->name_ = api.name;
    p->probe_.struct_size = sizeof(lmx_probe_result);
    api.probe(&p->probe_);
    p->probe_.device[LMX_TEXT_CAPACITY - 1] = '\0';
    p->probe_.reason[LMX_TEXT_CAPACITY - 1] = '\0';
    return p;
}

std::string plugin_file_name(const std::string& name) { return "libllamux_backend_" + name + ".so"; }

}  // namespace llamux
