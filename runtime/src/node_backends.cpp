#include "node_backends.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "llamux/log.hpp"
#include "llamux/resident_tensors.hpp"

namespace llamux {
namespace {

// Logs `message` once per process for each (backend, what) pair: plans are built per batch
// size, and the same fallback would otherwise be told again for each.
void log_once(const std::string& backend, const std::string& what, const std::string& message) {
    static std::mutex mutex;
    static std::set<std::pair<std::string, std::string>> seen;
    std::lock_guard lock(mutex);
    if (seen.insert({backend, what}).second) logger("sched")->info("{}", message);
}

// The node as a backend's supports_node sees it before any memory exists.
bool backend_takes(const Backend& backend, const Graph& graph, const Node& n) {
    std::deque<lmx_tensor> probe;
    lmx_node query{};
    query.op = n.op;
    query.layer = n.layer;
    for (size_t s = 0; s < LMX_MAX_SRC; ++s) {
        if (n.src[s] != kNoTensor) {
            const TensorDesc& d = graph.tensor(n.src[s]);
            query.src[s] = &probe.emplace_back(describe_tensor(d, d.name.c_str()));
        }
    }
    const TensorDesc& dd = graph.tensor(n.dst);
    query.dst = &probe.emplace_back(describe_tensor(dd, dd.name.c_str()));
    std::copy(n.iparams.begin(), n.iparams.end(), query.iparams);
    std::copy(n.fparams.begin(), n.fparams.end(), query.fparams);
    return backend.supports(query);
}

bool is_kv_op(const Node& n) { return n.op == LMX_OP_KV_STORE || n.op == LMX_OP_ATTENTION; }

}  // namespace

NodeBackends choose_node_backends(const Graph& graph, const Placement& placement, const BackendSet& backends) {
    const auto& nodes = graph.nodes();
    const std::shared_ptr<Backend> host = backends.shared(backends.host().name());
    NodeBackends out;
    out.of_node.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        auto backend = backends.shared(placement.backend_of(n.layer));
        if (backend != host && !backend_takes(*backend, graph, n)) {
            const std::string op(op_name(n.op));
            log_once(backend->name(), op,
                     "backend " + backend->name() + " declines " + op + " nodes: they run on " + host->name());
            backend = host;
            ++out.n_fallback;
        }
        out.of_node[i] = backend;
    }
    // A layer's KV stores and attention share the cache: keep them on one backend.
    std::map<int32_t, std::set<Backend*>> kv_backends;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (is_kv_op(nodes[i])) kv_backends[nodes[i].layer].insert(out.of_node[i].get());
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (is_kv_op(nodes[i]) && kv_backends[nodes[i].layer].size() > 1 && out.of_node[i] != host) {
            log_once(out.of_node[i]->name(), "kv together",
                     "backend " + out.of_node[i]->name() + ": where it declines a layer's KV store or attention, "
                         "both run on " + host->name() + " (they share the cache)");
            out.of_node[i] = host;
            ++out.n_fallback;
        }
    }
    return out;
}

}  // namespace llamux
