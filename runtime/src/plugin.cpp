#include "llamux/plugin.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <set>

#include "llamux/error.hpp"
#include "llamux/log.hpp"

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

std::shared_ptr<Plugin> PluginRegistry::find(const std::string& name) const {
    for (const auto& p : plugins_) {
        if (p->name() == name) return p;
    }
    return nullptr;
}

namespace {

fs::path executable_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

bool looks_like_plugin(const fs::path& p) {
    const std::string name = p.filename().string();
    return p.extension() == ".so" || name.find(".so.") != std::string::npos;
}

}  // namespace

std::vector<fs::path> PluginRegistry::default_dirs() {
    std::vector<fs::path> dirs;
    std::error_code ec;
    const fs::path installed = LLAMUX_PLUGIN_INSTALL_DIR;
    if (fs::is_directory(installed, ec)) dirs.push_back(fs::weakly_canonical(installed, ec));
    const fs::path exe_dir = executable_dir();
    if (!exe_dir.empty()) {
        const fs::path beside = fs::weakly_canonical(exe_dir / LLAMUX_PLUGIN_RELATIVE_DIR, ec);
        if (fs::is_directory(beside, ec) &&
            std::find(dirs.begin(), dirs.end(), beside) == dirs.end()) {
            dirs.push_back(beside);
        }
    }
    return dirs;
}

void PluginRegistry::try_load(const fs::path& file, const std::string& source) {
    auto log = logger("plugins");
    PluginAttempt attempt{file, source, false, {}};
    try {
        auto plugin = Plugin::load(file);
        const auto& probe = plugin->probe();
        if (probe.score <= 0) {
            attempt.message = "cannot run here: " + std::string(probe.reason);
            log->info("plugin {} ({}): probe score 0, skipped: {}", plugin->name(), file.string(),
                      probe.reason);
        } else {
            attempt.loaded = true;
            attempt.message = plugin->name();
            auto same = std::find_if(plugins_.begin(), plugins_.end(),
                                     [&](const auto& p) { return p->name() == plugin->name(); });
            if (same != plugins_.end()) {
                log->info("plugin {}: {} ({}) replaces {}", plugin->name(), file.string(), source,
                          (*same)->file().string());
                *same = plugin;
            } else {
                log->info("plugin {}: loaded {} ({})", plugin->name(), file.string(), source);
                plugins_.push_back(plugin);
            }
        }
    } catch (const Error& e) {
        attempt.message = e.what();
        log->warn("{}", e.what());
    } catch (const std::exception& e) {
        attempt.message = "plugin " + file.string() + ": " + e.what();
        log->warn("{}", attempt.message);
    }
    attempts_.push_back(std::move(attempt));
}

void PluginRegistry::scan_dir(const fs::path& dir, const std::string& source) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        logger("plugins")->warn("plugin folder {} ({}): not a folder, skipped", dir.string(), source);
        attempts_.push_back({dir, source, false, "not a folder"});
        return;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec) && looks_like_plugin(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // deterministic order
    for (const auto& f : files) try_load(f, source);
}

PluginRegistry PluginRegistry::discover(const PluginSearch& search) {
    PluginRegistry reg;
    if (search.default_dirs) {
        for (const auto& d : default_dirs()) reg.scan_dir(d, "default");
    }
    if (search.env_path) {
        if (const char* env = std::getenv("LLAMUX_PLUGIN_PATH"); env && *env) {
            std::string list(env);
            size_t start = 0;
            while (start <= list.size()) {
                const size_t end = std::min(list.find(':', start), list.size());
                if (end > start) reg.scan_dir(list.substr(start, end - start), "LLAMUX_PLUGIN_PATH");
                start = end + 1;
            }
        }
    }
    for (const auto& d : search.dirs) reg.scan_dir(d, "--plugin-dir");
    for (const auto& f : search.files) reg.try_load(f, "--plugin");
    return reg;
}

}  // namespace llamux
