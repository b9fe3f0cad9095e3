// The backend instances of one session, created by name from the registry's plugins; only
// the plugins of those names are opened (PluginRegistry::find).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llamux/backend.hpp"

namespace llamux {

class BackendSet {
public:
    // Creates one instance of each named backend (duplicates ignored). `host` names the
    // backend that runs what others decline and owns the token embedding; it is always
    // created. Throws Error when one is missing, naming the backend, why the file named for
    // it (plugin_file_name) did not provide it, and the plugins that did load.
    BackendSet(const PluginRegistry& registry, const std::vector<std::string>& names,
               const std::string& host, const BackendOptions& options);

    Backend& get(const std::string& name) const;
    Backend& host() const { return get(host_); }
    bool has(const std::string& name) const { return backends_.count(name) != 0; }
    std::shared_ptr<Backend> shared(const std::string& name) const;

private:
    std::map<std::string, std::shared_ptr<Backend>> backends_;
    std::string host_;
};

}  // namespace llamux
