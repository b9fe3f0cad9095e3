// PluginRegistry: which plugin files exist, and opening only those a session asks for.
#include <algorithm>
#include <cstdlib>

#include "llamux/error.hpp"
#include "llamux/log.hpp"
#include "llamux/plugin.hpp"

namespace llamux {

namespace fs = std::filesystem;

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

// libllamux_backend_<name>.so, or a versioned libllamux_backend_<name>.so.N.
bool named_for(const fs::path& file, const std::string& name) {
    const std::string f = file.filename().string();
    const std::string own = plugin_file_name(name);
    return f == own || f.rfind(own + ".", 0) == 0;
}

// A file named by our convention (for some backend).
bool conventional_name(const fs::path& file) {
    return file.filename().string().rfind(plugin_file_name(""), 0) == 0;
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

void PluginRegistry::add_file(const fs::path& file, const std::string& source) {
    attempts_.push_back({file, source, false, "not opened"});
    slots_.push_back({true, nullptr});
}

void PluginRegistry::scan_dir(const fs::path& dir, const std::string& source) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        logger("plugins")->warn("plugin folder {} ({}): not a folder, skipped", dir.string(), source);
        attempts_.push_back({dir, source, false, "not a folder"});
        slots_.push_back({false, nullptr});
        return;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec) && looks_like_plugin(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // deterministic order
    for (const auto& f : files) add_file(f, source);
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
    for (const auto& f : search.files) reg.add_file(f, "--plugin");
    logger("plugins")->debug("{} plugin files found, none opened yet", reg.attempts_.size());
    return reg;
}

void PluginRegistry::open(size_t i) const {
    Slot& slot = slots_[i];
    if (!slot.pending) return;
    slot.pending = false;
    PluginAttempt& attempt = attempts_[i];
    const std::string file = attempt.file.string();
    auto log = logger("plugins");
    try {
        auto plugin = Plugin::load(attempt.file);
        const auto& probe = plugin->probe();
        if (probe.score <= 0) {
            attempt.message = "cannot run here: " + std::string(probe.reason);
            log->info("plugin {} ({}): probe score 0, skipped: {}", plugin->name(), file,
                      probe.reason);
            return;
        }
        attempt.loaded = true;
        attempt.message = plugin->name();
        slot.plugin = plugin;
        log->info("plugin {}: loaded {} ({})", plugin->name(), file, attempt.source);
        // Such a file is opened first for the wrong name: say so, it costs every run.
        if (conventional_name(attempt.file) && !named_for(attempt.file, plugin->name())) {
            log->warn("plugin {}: named for another backend, the plugin reports {} (expected {})",
                      file, plugin->name(), plugin_file_name(plugin->name()));
        }
    } catch (const Error& e) {
        attempt.message = e.what();
        log->warn("{}", e.what());
    } catch (const std::exception& e) {
        attempt.message = "plugin " + file + ": " + e.what();
        log->warn("{}", attempt.message);
    }
}

void PluginRegistry::open_all() const {
    for (size_t i = 0; i < slots_.size(); ++i) open(i);
}

std::shared_ptr<Plugin> PluginRegistry::find_locked(const std::string& name) const {
    // Pass 0: the files named for `name`; pass 1: all others. Later sources first in both.
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = attempts_.size(); i-- > 0;) {
            if (named_for(attempts_[i].file, name) != (pass == 0)) continue;
            open(i);
            if (slots_[i].plugin && slots_[i].plugin->name() == name) return slots_[i].plugin;
        }
        if (pass == 0) {
            logger("plugins")->debug("backend {}: no usable {}, trying the other plugin files",
                                     name, plugin_file_name(name));
        }
    }
    return nullptr;
}

std::shared_ptr<Plugin> PluginRegistry::find(const std::string& name) const {
    std::lock_guard lock(*mutex_);
    return find_locked(name);
}

const std::vector<std::shared_ptr<Plugin>>& PluginRegistry::plugins() const {
    std::lock_guard lock(*mutex_);
    if (all_listed_) return plugins_;
    open_all();
    auto log = logger("plugins");
    for (size_t i = 0; i < slots_.size(); ++i) {
        const auto& plugin = slots_[i].plugin;
        if (!plugin) continue;
        const auto winner = find_locked(plugin->name());
        if (winner != plugin) {
            log->info("plugin {}: {} is used, not {} ({})", plugin->name(),
                      winner->file().string(), attempts_[i].file.string(), attempts_[i].source);
        }
        if (std::find(plugins_.begin(), plugins_.end(), winner) == plugins_.end()) {
            plugins_.push_back(winner);
        }
    }
    all_listed_ = true;
    return plugins_;
}

const std::vector<PluginAttempt>& PluginRegistry::attempts() const {
    std::lock_guard lock(*mutex_);
    open_all();
    return attempts_;
}

}  // namespace llamux
