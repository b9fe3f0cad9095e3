#include "llamux/execution_plan.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <set>

#include "llamux/error.hpp"
#include "llamux/log.hpp"
#include "memory_planner.hpp"
#include "node_backends.hpp"

namespace llamux {
namespace {

constexpr size_t kAlignment = 256;  // enough for AVX-512 loads and GPU vector access
// Steps after its last reader before a tensor's bytes may hold another tensor. A backend may
// run a few consecutive nodes as one kernel (the CUDA backend: rope of q and of k with both
// KV stores); that is only safe when none of them writes where another reads
// (backends/cuda/cuda_fusion_safety.hpp), which immediate reuse breaks: rope(k)'s output
// would land on q, whose last reader is the rope(q) just before. One step keeps a node's
// output off the inputs of the node before it (prompt activations of a 1B model: 35.3 ->
// 38.5 MiB); the backends still check every fusion.
constexpr int kReuseDelay = 1;

// One storage tensor's activation memory on one backend.
struct Instance {
    TensorId storage = kNoTensor;
    std::shared_ptr<Backend> backend;
    size_t bytes = 0;
    size_t offset = 0;
    int first_step = INT_MAX;  // clock tick of the copy or node that writes it (0: input)
    int last_step = -1;        // tick of the last copy or node that reads it
    lmx_tensor* tensor = nullptr;  // the storage tensor as seen on this backend
};

struct Step {
    bool is_copy = false;
    // A run of nodes on one backend.
    std::shared_ptr<Backend> backend;
    std::vector<lmx_node> nodes;
    BackendProgram program;
    std::string what;
    // A copy between backends.
    int src_instance = -1;
    int dst_instance = -1;
};

}  // namespace

struct ExecutionPlan::Impl {
    const Graph& graph;
    const BackendSet& backends;
    WeightStore& weights;
    KvCache& kv;

    std::deque<lmx_tensor> tensors;    // every lmx_tensor the nodes point to; stable addresses
    std::deque<std::string> names;     // names of copies, stable c_str
    std::vector<Instance> instances;
    std::map<std::pair<TensorId, const Backend*>, int> instance_index;
    std::map<std::pair<TensorId, const Backend*>, lmx_tensor*> views;
    std::vector<std::pair<lmx_tensor*, std::pair<int, size_t>>> pending_data;  // tensor, (instance, offset)
    std::map<TensorId, const Backend*> home;  // where each storage tensor is produced
    // Declared before the steps: members are destroyed in reverse, and programs must be
    // freed while the buffers their tensors point into still exist.
    std::map<const Backend*, BackendBuffer> buffers;
    std::vector<Step> steps;
    std::vector<std::shared_ptr<Backend>> used;
    std::vector<char> staging;

    Impl(const Graph& g, const BackendSet& b, WeightStore& w, KvCache& k)
        : graph(g), backends(b), weights(w), kv(k) {}

    int instance(TensorId storage, const std::shared_ptr<Backend>& backend) {
        const auto key = std::make_pair(storage, backend.get());
        if (auto it = instance_index.find(key); it != instance_index.end()) return it->second;
        const TensorDesc& desc = graph.tensor(storage);
        Instance inst;
        inst.storage = storage;
        inst.backend = backend;
        inst.bytes = desc.n_bytes();
        const char* name = desc.name.c_str();
        if (home.count(storage) && home[storage] != backend.get()) {
            names.push_back(desc.name + "@" + backend->name());
            name = names.back().c_str();
        }
        inst.tensor = &tensors.emplace_back(describe_tensor(desc, name));
        instances.push_back(inst);
        const int index = static_cast<int>(instances.size() - 1);
        pending_data.push_back({inst.tensor, {index, 0}});
        instance_index[key] = index;
        if (std::find(used.begin(), used.end(), backend) == used.end()) used.push_back(backend);
        return index;
    }

    // The lmx_tensor for graph tensor `id` as seen by a node on `backend`; records the
    // instances used and the copies needed.
    const lmx_tensor* source(TensorId id, const std::shared_ptr<Backend>& backend,
                             std::vector<std::pair<int, int>>& copies, std::vector<int>& uses) {
        const TensorDesc& desc = graph.tensor(id);
        if (desc.role == LMX_ROLE_WEIGHT) return &weights.get(desc, backend);
        if (desc.role == LMX_ROLE_KV_CACHE) return &kv.get(desc, backend);
        const TensorId storage = graph.storage_of(id);
        auto h = home.find(storage);
        if (h == home.end()) {
            throw Error("graph: tensor " + desc.name + " is read before any node writes it");
        }
        int inst;
        if (h->second == backend.get()) {
            inst = instance(storage, backend);
        } else {
            const auto key = std::make_pair(storage, backend.get());
            const bool exists = instance_index.count(key) != 0;
            inst = instance(storage, backend);
            if (!exists) {
                const int src = instance_index.at({storage, h->second});
                copies.emplace_back(src, inst);
            }
        }
        uses.push_back(inst);
        if (id == storage) return instances[static_cast<size_t>(inst)].tensor;
        const auto vkey = std::make_pair(id, backend.get());
        if (auto v = views.find(vkey); v != views.end()) return v->second;
        lmx_tensor* view = &tensors.emplace_back(describe_tensor(desc, desc.name.c_str()));
        pending_data.push_back({view, {inst, desc.view_offset}});
        views[vkey] = view;
        return view;
    }

    lmx_tensor* destination(TensorId id, const std::shared_ptr<Backend>& backend,
                            std::vector<int>& defs) {
        const TensorDesc& desc = graph.tensor(id);
        if (desc.role == LMX_ROLE_KV_CACHE) return &kv.get(desc, backend);
        if (desc.role == LMX_ROLE_WEIGHT) {
            throw Error("graph: node writes weight " + desc.name);
        }
        if (desc.view_of != kNoTensor) {
            throw Error("graph: node writes view " + desc.name + "; nodes must write whole tensors");
        }
        home[id] = backend.get();
        const int inst = instance(id, backend);
        defs.push_back(inst);
        return instances[static_cast<size_t>(inst)].tensor;
    }
};

ExecutionPlan::ExecutionPlan(const Graph& graph, const Placement& placement,
                             const BackendSet& backends, WeightStore& weights, KvCache& kv)
    : impl_(std::make_unique<Impl>(graph, backends, weights, kv)) {
    auto log = logger("sched");
    Impl& m = *impl_;
    const auto& nodes = graph.nodes();
    const std::shared_ptr<Backend> host = backends.shared(backends.host().name());

    // 1. Backend per node: placement, then fallback to the host for declined nodes.
    NodeBackends chosen = choose_node_backends(graph, placement, backends);
    const std::vector<std::shared_ptr<Backend>>& node_backend = chosen.of_node;
    stats_.n_fallback_nodes = chosen.n_fallback;
    for (const auto& b : node_backend) node_backend_names_.push_back(b->name());

    // Inputs are written by the host.
    for (TensorId id = 0; id < static_cast<TensorId>(graph.tensors().size()); ++id) {
        const TensorDesc& d = graph.tensor(id);
        if (d.role == LMX_ROLE_INPUT && d.view_of == kNoTensor) {
            m.home[id] = host.get();
            Instance& inst = m.instances[static_cast<size_t>(m.instance(id, host))];
            inst.first_step = 0;
        }
    }

    // 2-3. Runs of one backend, with the copies each run needs in front of it. `clock`
    // orders copies and nodes; instance lifetimes are measured in its ticks (0: inputs).
    int clock = 0;
    size_t begin = 0;
    while (begin < nodes.size()) {
        size_t end = begin;
        while (end < nodes.size() && node_backend[end] == node_backend[begin]) ++end;
        const auto& backend = node_backend[begin];
        Step run;
        run.backend = backend;
        run.what = "nodes " + std::to_string(begin) + "-" + std::to_string(end - 1) + " (" +
                   graph.tensor(nodes[begin].dst).name + " .. " +
                   graph.tensor(nodes[end - 1].dst).name + ")";
        std::vector<std::pair<int, int>> copies;
        // Per node: the instances it reads and writes, for liveness at node granularity
        // (nodes of a run execute in order, so memory is reused inside a run too).
        std::vector<std::vector<int>> uses(end - begin), defs(end - begin);
        for (size_t i = begin; i < end; ++i) {
            const Node& n = nodes[i];
            lmx_node c{};
            c.op = n.op;
            c.layer = n.layer;
            for (size_t s = 0; s < LMX_MAX_SRC; ++s) {
                if (n.src[s] != kNoTensor) {
                    c.src[s] = m.source(n.src[s], backend, copies, uses[i - begin]);
                }
            }
            c.dst = m.destination(n.dst, backend, defs[i - begin]);
            std::copy(n.iparams.begin(), n.iparams.end(), c.iparams);
            std::copy(n.fparams.begin(), n.fparams.end(), c.fparams);
            run.nodes.push_back(c);
        }
        for (const auto& [src, dst] : copies) {
            Step copy;
            copy.is_copy = true;
            copy.src_instance = src;
            copy.dst_instance = dst;
            const int t = ++clock;
            auto& s = m.instances[static_cast<size_t>(src)];
            auto& d = m.instances[static_cast<size_t>(dst)];
            s.last_step = std::max(s.last_step, t);
            d.first_step = std::min(d.first_step, t);
            log->info("copy {} ({} bytes): {} -> {}", graph.tensor(s.storage).name, s.bytes,
                      s.backend->name(), d.backend->name());
            m.steps.push_back(std::move(copy));
            ++stats_.n_copies;
        }
        for (size_t k = 0; k < uses.size(); ++k) {
            const int t = ++clock;
            for (int u : uses[k]) {
                auto& inst = m.instances[static_cast<size_t>(u)];
                inst.last_step = std::max(inst.last_step, t);
            }
            for (int d : defs[k]) {
                auto& inst = m.instances[static_cast<size_t>(d)];
                inst.first_step = std::min(inst.first_step, t);
                inst.last_step = std::max(inst.last_step, t);
            }
        }
        log->debug("run on {}: {}", backend->name(), run.what);
        m.steps.push_back(std::move(run));
        ++stats_.n_runs;
        begin = end;
    }
    for (auto& inst : m.instances) {
        if (graph.tensor(inst.storage).role == LMX_ROLE_OUTPUT) inst.last_step = INT_MAX;
        if (inst.last_step < inst.first_step) inst.last_step = inst.first_step;  // written, unread
    }

    // 4. Memory: one buffer per backend, offsets reused by liveness.
    std::map<const Backend*, MemoryPlanner> planners;
    std::vector<std::pair<int, int>> events;  // (tick, +instance+1 alloc / -(instance+1) free)
    for (size_t i = 0; i < m.instances.size(); ++i) {
        events.emplace_back(m.instances[i].first_step * 2, static_cast<int>(i) + 1);
        if (m.instances[i].last_step != INT_MAX) {
            events.emplace_back((m.instances[i].last_step + kReuseDelay) * 2 + 1, -(static_cast<int>(i) + 1));
        }
    }
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [when, what] : events) {
        const size_t i = static_cast<size_t>(std::abs(what) - 1);
        Instance& inst = m.instances[i];
        MemoryPlanner& planner = planners[inst.backend.get()];
        if (what > 0) {
            inst.offset = planner.allocate(inst.bytes, kAlignment);
        } else {
            planner.release(inst.offset, inst.bytes, kAlignment);
        }
    }
    for (const auto& b : m.used) {
        const size_t size = std::max<size_t>(planners[b.get()].peak(), kAlignment);
        m.buffers[b.get()] = b->allocate(size);
        log->info("backend {}: {:.2f} MiB of activations for a {}-node graph", b->name(),
                  static_cast<double>(size) / (1024.0 * 1024.0), nodes.size());
    }
    for (auto& [tensor, where] : m.pending_data) {
        const Instance& inst = m.instances[static_cast<size_t>(where.first)];
        tensor->data = m.buffers.at(inst.backend.get()).base() + inst.offset + where.second;
    }

    // 5. Compile each run.
    for (auto& step : m.steps) {
        if (step.is_copy) continue;
        step.program = step.backend->compile(step.nodes.data(),
                                             static_cast<int32_t>(step.nodes.size()), step.what);
    }
}

ExecutionPlan::~ExecutionPlan() = default;

void ExecutionPlan::write_input(TensorId id, const void* data, size_t bytes) {
    Impl& m = *impl_;
    const auto h = m.home.find(id);
    if (h == m.home.end() || m.graph.tensor(id).role != LMX_ROLE_INPUT) {
        throw Error("graph: " + m.graph.tensor(id).name + " is not an input");
    }
    const Instance& inst = m.instances[static_cast<size_t>(m.instance_index.at({id, h->second}))];
    if (bytes != inst.bytes) {
        throw Error("input " + m.graph.tensor(id).name + ": expected " + std::to_string(inst.bytes) +
                    " bytes, got " + std::to_string(bytes));
    }
    inst.backend->write(*inst.tensor, data, 0, bytes);
}

void ExecutionPlan::run(int32_t n_past) {
    Impl& m = *impl_;
    lmx_exec_args args{};
    args.struct_size = sizeof(args);
    args.n_past = n_past;
    for (auto& step : m.steps) {
        if (!step.is_copy) {
            step.backend->execute(step.program, args, step.what);
            continue;
        }
        Instance& src = m.instances[static_cast<size_t>(step.src_instance)];
        Instance& dst = m.instances[static_cast<size_t>(step.dst_instance)];
        if (src.backend->is_host_memory()) {
            src.backend->synchronize();
            dst.backend->write(*dst.tensor, src.tensor->data, 0, src.bytes);
        } else if (dst.backend->is_host_memory()) {
            src.backend->read(*src.tensor, dst.tensor->data, 0, src.bytes);
        } else {
            m.staging.resize(src.bytes);
            src.backend->read(*src.tensor, m.staging.data(), 0, src.bytes);
            dst.backend->write(*dst.tensor, m.staging.data(), 0, src.bytes);
        }
        // The source memory may be reused by the next step: finish the copy first.
        dst.backend->synchronize();
    }
    for (const auto& b : m.used) b->synchronize();
}

void ExecutionPlan::read_output(TensorId id, void* data, size_t bytes) {
    Impl& m = *impl_;
    const auto h = m.home.find(id);
    if (h == m.home.end()) throw Error("graph: " + m.graph.tensor(id).name + " is never written");
    const Instance& inst = m.instances[static_cast<size_t>(m.instance_index.at({id, h->second}))];
    if (bytes != inst.bytes) {
        throw Error("output " + m.graph.tensor(id).name + ": expected " +
                    std::to_string(inst.bytes) + " bytes, got " + std::to_string(bytes));
    }
    inst.backend->read(*inst.tensor, data, 0, bytes);
}

}  // namespace llamux
