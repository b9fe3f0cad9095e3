// Backend plugins: discovery, loading with Boost.DLL, the ABI check, and the probe.
// Discovery only lists files; a library is opened when a backend from it is first asked for
// (opening libdnnl or libcublas costs ~100 ms and tens of MiB a run on the CPU never uses).
// A Plugin owns the loaded library; everything made from it (Backend instances, and through
// them buffers, programs, prepared weights) holds a shared_ptr to it, so the library stays
// loaded while any of its objects is alive.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
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

// Where to look for plugins, in this order (see PluginRegistry for which file wins a name).
struct PluginSearch {
    bool default_dirs = true;  // installed folder, then the folder beside the binary
    bool env_path = true;      // then every folder of LLAMUX_PLUGIN_PATH (':'-separated)
    std::vector<std::filesystem::path> dirs;   // then --plugin-dir DIR, in order
    std::vector<std::filesystem::path> files;  // then --plugin FILE, in order
};

// The file name our build gives the plugin of backend `name`: libllamux_backend_<name>.so
// (llamux_add_plugin(llamux_backend_<name>) in CMake). The registry opens such a file first
// when `name` is asked for; plugins named otherwise still work, found by opening them.
std::string plugin_file_name(const std::string& name);

// One file the registry tried, for `llamux plugins` and for tests.
struct PluginAttempt {
    std::filesystem::path file;
    std::string source;   // "default", "LLAMUX_PLUGIN_PATH", "--plugin-dir", "--plugin"
    bool loaded = false;
    std::string message;  // why it was not loaded, or the name it was loaded as
};

// The plugins of one search. Files are opened on demand and stay loaded while the registry
// (or an object made from one of its plugins) lives. All members may be called from several
// threads; open failures are logged (one line each) and recorded, never thrown.
//
// Which file provides a name: the files named plugin_file_name(name), the later source
// first; only when none of them loads and reports that name, every other file, again the
// later source first. So a later source still wins between two files of the same name, and a
// file named for the backend wins over a differently named one that reports the same name.
class PluginRegistry {
public:
    // Lists the plugin files of `search` (*.so, *.so.*) without opening any. A folder that
    // does not exist is logged and recorded as a failed attempt.
    static PluginRegistry discover(const PluginSearch& search);

    // The plugin of that name, or nullptr when no file provides a usable one. Opens only the
    // files needed to answer (see above): for `cpu` in the default layout, the cpu plugin.
    std::shared_ptr<Plugin> find(const std::string& name) const;
    // Every usable plugin, the winner of each name only, in discovery order. Opens every
    // file: for listing and testing all plugins, and for error messages.
    const std::vector<std::shared_ptr<Plugin>>& plugins() const;
    // Every file found, in discovery order, each opened to say whether it loaded.
    const std::vector<PluginAttempt>& attempts() const;

    // The default folders that exist: installed plugin folder and the one beside the binary.
    static std::vector<std::filesystem::path> default_dirs();

private:
    void scan_dir(const std::filesystem::path& dir, const std::string& source);
    void add_file(const std::filesystem::path& file, const std::string& source);
    // Called with mutex_ held.
    void open(size_t i) const;
    void open_all() const;
    std::shared_ptr<Plugin> find_locked(const std::string& name) const;

    struct Slot {                     // the load state of attempts_[i]
        bool pending = false;         // a file not opened yet
        std::shared_ptr<Plugin> plugin;  // set when it loaded and probes > 0
    };
    // mutable: lookups are const for callers, opening a file on the way is not their concern.
    mutable std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>();
    mutable std::vector<PluginAttempt> attempts_;
    mutable std::vector<Slot> slots_;
    mutable std::vector<std::shared_ptr<Plugin>> plugins_;  // filled by the first plugins()
    mutable bool all_listed_ = false;
};

}  // namespace llamux
