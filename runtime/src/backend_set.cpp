#include "llamux/backend_set.hpp"

#include "llamux/error.hpp"
#include "llamux/log.hpp"

namespace llamux {

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
            throw Error("backend " + name + ": no usable plugin of that name was found (loaded: " +
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
