#include "llamux/backend_set.hpp"

#include "llamux/error.hpp"
#include "llamux/log.hpp"

namespace llamux {
namespace {

// Why the files named for backend `name` did not provide it, "" when there is none.
std::string named_files_report(const PluginRegistry& registry, const std::string& name) {
    std::string report;
    for (const auto& a : registry.attempts()) {
        if (a.file.filename() != plugin_file_name(name)) continue;
        std::string why;
        if (a.loaded) {
            why = a.file.string() + ": reports name " + a.message + ", expected " + name;
        } else if (a.message.rfind("plugin ", 0) == 0) {
            why = a.message;  // already names the file
        } else {
            why = a.file.string() + ": " + a.message;
        }
        report += why + "; ";
    }
    return report;
}

}  // namespace

BackendSet::BackendSet(const PluginRegistry& registry, const std::vector<std::string>& names,
                       const std::string& host, const BackendOptions& options)
    : host_(host) {
    std::vector<std::string> wanted{host};
    wanted.insert(wanted.end(), names.begin(), names.end());
    for (const auto& name : wanted) {
        if (backends_.count(name)) continue;
        auto plugin = registry.find(name);
        if (!plugin) {
            std::string available;
            for (const auto& p : registry.plugins()) {
                available += (available.empty() ? "" : ", ") + p->name();
            }
            throw Error("backend " + name + ": no usable plugin of that name was found (" +
                        named_files_report(registry, name) + "loaded: " +
                        (available.empty() ? std::string("none") : available) +
                        "; see `llamux plugins`)");
        }
        backends_[name] = Backend::create(plugin, options);
        logger("sched")->info("backend {}: created from {}", name, plugin->file().string());
    }
}

Backend& BackendSet::get(const std::string& name) const { return *shared(name); }

std::shared_ptr<Backend> BackendSet::shared(const std::string& name) const {
    auto it = backends_.find(name);
    if (it == backends_.end()) throw Error("backend " + name + ": not created in this session");
    return it->second;
}

}  // namespace llamux
