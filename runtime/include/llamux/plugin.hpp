// Backend plugins: discovery, loading with Boost.DLL, the ABI check, and the probe.
// A Plugin owns the loaded library; everything made from it (Backend instances, and through
// them buffers, programs, prepared weights) holds a shared_ptr to it, so the library stays
// loaded while any of its objects is alive.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"

namespace llamux {

class Plugin {
public:
    // Loads `file` and resolves LMX_ENTRY_POINT. Throws Error naming the file when it is not
    // a loadable library, lacks the entry point, returns no table, or has another ABI version.
    static std::shared_ptr<Plugin> load(const std::filesystem::path& file);
    ~Plugin();
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;

    const lmx_backend_api& api() const { return *api_; }
    const std::string& name() const { return name_; }
    const std::filesystem::path& file() const { return file_; }
    const lmx_probe_result& probe() const { return probe_; }  // taken once at load

private:
    Plugin() = default;
    struct Library;
    std::unique_ptr<Library> library_;
    const lmx_backend_api* api_ = nullptr;
    std::string name_;
    std::filesystem::path file_;
    lmx_probe_result probe_{};
};

// Where to look for plugins; later sources win when two plugins share a name.
struct PluginSearch {
    bool default_dirs = true;  // installed folder, then the folder beside the binary
    bool env_path = true;      // then every folder of LLAMUX_PLUGIN_PATH (':'-separated)
    std::vector<std::filesystem::path> dirs;   // then --plugin-dir DIR, in order
    std::vector<std::filesystem::path> files;  // then --plugin FILE, in order
};

// One file the registry tried, for `llamux plugins` and for tests.
struct PluginAttempt {
    std::filesystem::path file;
    std::string source;   // "installed", "beside binary", "LLAMUX_PLUGIN_PATH", "--plugin-dir", "--plugin"
    bool loaded = false;
    std::string message;  // why it was not loaded, or the name it was loaded as
};

class PluginRegistry {
public:
    // Loads every plugin it finds. Failures are logged (one line each) and recorded, never
    // thrown: the run goes on with what loaded.
    static PluginRegistry discover(const PluginSearch& search);

    // Plugins by name, the winner of each name only, in discovery order.
    const std::vector<std::shared_ptr<Plugin>>& plugins() const { return plugins_; }
    std::shared_ptr<Plugin> find(const std::string& name) const;
    const std::vector<PluginAttempt>& attempts() const { return attempts_; }

    // The default folders that exist: installed plugin folder and the one beside the binary.
    static std::vector<std::filesystem::path> default_dirs();

private:
    void try_load(const std::filesystem::path& file, const std::string& source);
    void scan_dir(const std::filesystem::path& dir, const std::string& source);
    std::vector<std::shared_ptr<Plugin>> plugins_;
    std::vector<PluginAttempt> attempts_;
};

}  // namespace llamux
