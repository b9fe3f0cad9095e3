#include "llamux/resident_tensors.hpp"

#include "llamux/error.hpp"

namespace llamux {

lmx_tensor describe_tensor(const TensorDesc& desc, const char* name) {
    lmx_tensor t{};
    t.dtype = static_cast<int32_t>(desc.dtype);
    t.role = desc.role;
    for (size_t i = 0; i < LMX_MAX_DIMS; ++i) {
        t.ne[i] = desc.ne[i];
        t.nb[i] = desc.nb[i];
    }
    t.name = name;
    return t;
}

WeightStore::~WeightStore() {
    for (auto& e : entries_) e.backend->release_weight(e.tensor);
}

lmx_tensor& WeightStore::get(const TensorDesc& desc, const std::shared_ptr<Backend>& backend) {
    const auto key = std::make_pair(desc.name, backend->name());
    if (auto it = index_.find(key); it != index_.end()) return it->second->tensor;
    const void* bytes = host_data_(desc.name);
    if (!bytes) throw Error("tensor " + desc.name + ": no data in the model file");
    Entry& e = entries_.emplace_back();
    e.name = desc.name;
    e.backend = backend;
    e.tensor = describe_tensor(desc, e.name.c_str());
    try {
        backend->prepare_weight(e.tensor, bytes);
    } catch (...) {
        entries_.pop_back();
        throw;
    }
    index_[key] = &e;
    return e.tensor;
}

lmx_tensor& KvCache::get(const TensorDesc& desc, const std::shared_ptr<Backend>& backend) {
    if (auto it = index_.find(desc.name); it != index_.end()) {
        if (it->second->backend != backend) {
            throw Error("KV cache " + desc.name + ": lives on backend " + it->second->backend->name() +
                        ", requested on " + backend->name());
        }
        return it->second->tensor;
    }
    Entry& e = entries_.emplace_back();
    e.name = desc.name;
    e.backend = backend;
    e.buffer = backend->allocate(desc.n_bytes());
    e.tensor = describe_tensor(desc, e.name.c_str());
    e.tensor.data = e.buffer.base();
    bytes_ += desc.n_bytes();
    index_[desc.name] = &e;
    return e.tensor;
}

KvCache::Resident KvCache::find(const std::string& name) {
    const auto it = index_.find(name);
    if (it == index_.end()) return {};
    return {&it->second->tensor, it->second->backend.get()};
}

}  // namespace llamux
