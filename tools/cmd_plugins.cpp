// llamux plugins: every plugin file found, where, and whether it can run here.
#include <cstdio>

#include "commands.hpp"
#include "llamux/plugin.hpp"

namespace llamux::tools {
namespace {

struct PluginsFlags {
    std::vector<std::string> dirs;
    std::vector<std::string> files;
};

int run_plugins(const PluginsFlags& f) {
    PluginSearch search;
    for (const auto& d : f.dirs) search.dirs.emplace_back(d);
    for (const auto& p : f.files) search.files.emplace_back(p);
    const PluginRegistry registry = PluginRegistry::discover(search);
    if (registry.attempts().empty()) {
        std::printf("no plugins found (searched the default folders and LLAMUX_PLUGIN_PATH)\n");
        return 1;
    }
    std::printf("%-8s %-10s %-4s %-5s %-22s %s\n", "status", "name", "abi", "score", "source", "file / device");
    for (const auto& a : registry.attempts()) {
        const auto plugin = a.loaded ? registry.find(a.message) : nullptr;
        if (plugin && plugin->file() == a.file) {
            std::printf("%-8s %-10s %-4u %-5d %-22s %s\n", "ok", plugin->name().c_str(),
                        plugin->api().abi_version, plugin->probe().score, a.source.c_str(),
                        a.file.c_str());
            std::printf("%-8s %-10s %-4s %-5s %-22s   %s (%d device%s)\n", "", "", "", "", "",
                        plugin->probe().device, plugin->probe().n_devices,
                        plugin->probe().n_devices == 1 ? "" : "s");
        } else if (a.loaded) {
            std::printf("%-8s %-10s %-4s %-5s %-22s %s\n", "replaced", a.message.c_str(), "", "",
                        a.source.c_str(), a.file.c_str());
        } else {
            std::printf("%-8s %-10s %-4s %-5s %-22s %s\n", "skipped", "-", "", "", a.source.c_str(),
                        a.file.c_str());
            std::printf("%-8s %-10s %-4s %-5s %-22s   %s\n", "", "", "", "", "", a.message.c_str());
        }
    }
    return 0;
}

}  // namespace

void add_plugins_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<PluginsFlags>();
    auto* cmd = root.add_subcommand("plugins", "List the backend plugins found and their probes");
    cmd->add_option("--plugin-dir", flags->dirs, "Also search this folder (repeatable)");
    cmd->add_option("--plugin", flags->files, "Also load this plugin file (repeatable)");
    cmd->callback([flags, &run] { run = [flags] { return run_plugins(*flags); }; });
}

}  // namespace llamux::tools
