// Tensors that outlive one graph: prepared weights and KV caches. Both are shared by every
// graph of a session (prompt batch, single token), so they are prepared or allocated once,
// on the backend that runs the nodes using them.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "llamux/backend.hpp"
#include "llamux/ir.hpp"

namespace llamux {

// An lmx_tensor describing a graph tensor's type and shape, with no data yet.
lmx_tensor describe_tensor(const TensorDesc& desc, const char* name);

// Weights prepared per (name, backend). `host_data` finds a weight's bytes in the model file.
class WeightStore {
public:
    using HostData = std::function<const void*(const std::string& name)>;
    explicit WeightStore(HostData host_data) : host_data_(std::move(host_data)) {}
    ~WeightStore();
    WeightStore(const WeightStore&) = delete;
    WeightStore& operator=(const WeightStore&) = delete;

    // The weight as prepared by `backend`, preparing it on first use. Stable address.
    lmx_tensor& get(const TensorDesc& desc, const std::shared_ptr<Backend>& backend);
    size_t count() const { return entries_.size(); }

private:
    struct Entry {
        std::string name;
        std::shared_ptr<Backend> backend;
        lmx_tensor tensor{};
    };
    HostData host_data_;
    std::deque<Entry> entries_;
    std::map<std::pair<std::string, std::string>, Entry*> index_;
};

// KV cache tensors, each allocated once on the backend of its layer.
class KvCache {
public:
    // The cache tensor, allocated (zero-filled) on first use. Requesting it on another
    // backend than the first time is an Error. Stable address.
    lmx_tensor& get(const TensorDesc& desc, const std::shared_ptr<Backend>& backend);
    size_t bytes() const { return bytes_; }

    // A cache tensor and the backend that holds it (read and write its rows through it).
    struct Resident {
        lmx_tensor* tensor = nullptr;  // nullptr: no graph has used this cache yet
        Backend* backend = nullptr;
    };
    // The cache named `name`; both pointers stay valid as long as this KvCache.
    Resident find(const std::string& name);

private:
    struct Entry {
        std::string name;
        std::shared_ptr<Backend> backend;
        BackendBuffer buffer;
        lmx_tensor tensor{};
    };
    std::deque<Entry> entries_;
    std::map<std::string, Entry*> index_;
    size_t bytes_ = 0;
};

}  // namespace llamux
