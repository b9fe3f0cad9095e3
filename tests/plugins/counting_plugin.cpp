// A real backend plugin for scheduler tests: named "counting", runs every op with the
// reference implementation except the ones it is told to decline, and counts what it ran.
// Tests read the counters through the extra exported function counting_plugin_stats().
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin_support.hpp"

namespace {

namespace plugin = llamux::plugin;

// Counters, shared with the test through counting_plugin_stats().
struct Stats {
    std::atomic<int64_t> nodes_run[LMX_OP_COUNT];
    std::atomic<int64_t> layers_seen_mask;  // bit (layer + 1) set when a node of it ran
    std::atomic<int64_t> weights_prepared;
    std::atomic<int64_t> live_objects;      // backends + buffers + programs not yet freed
    // Nodes compiled whose activation output shares bytes with an activation input of the
    // node before them (the planner keeps those apart, so that backends may fuse the two).
    std::atomic<int64_t> adjacent_overlaps;
};
Stats g_stats;

struct Program {
    std::vector<lmx_node> nodes;
};

// Ops named in LLAMUX_TEST_DECLINE ("rope,swiglu") are declined.
bool declined(int32_t op) {
    const char* env = std::getenv("LLAMUX_TEST_DECLINE");
    if (!env) return false;
    const std::string list = std::string(",") + env + ",";
    static const char* names[] = {"none", "get_rows", "rms_norm", "matmul", "rope", "kv_store",
                                  "attention", "swiglu", "add", "copy"};
    if (op < 0 || op >= LMX_OP_COUNT) return true;
    return list.find(std::string(",") + names[op] + ",") != std::string::npos;
}

void probe(lmx_probe_result* out) {
    out->score = 1;
    out->n_devices = 1;
    plugin::set_text(out->device, "counting test device (host memory)");
    plugin::set_text(out->reason, "");
}

lmx_status create(const lmx_backend_config*, lmx_backend** out, lmx_error*) {
    static int token;
    *out = reinterpret_cast<lmx_backend*>(&token);
    ++g_stats.live_objects;
    return LMX_OK;
}
void destroy(lmx_backend*) { --g_stats.live_objects; }

int32_t supports_node(lmx_backend*, const lmx_node* node) {
    return !declined(node->op) && llamux::supports_node_ref(*node) ? 1 : 0;
}
int32_t is_host_memory(lmx_backend*) { return 1; }

lmx_status buffer_alloc(lmx_backend*, size_t size, lmx_buffer** out, void** base, lmx_error* err) {
    void* p = std::calloc(1, size ? size : 1);
    if (!p) {
        plugin::set_error(err, "calloc failed");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    *out = static_cast<lmx_buffer*>(p);
    *base = p;
    ++g_stats.live_objects;
    return LMX_OK;
}
void buffer_free(lmx_backend*, lmx_buffer* b) {
    std::free(b);
    --g_stats.live_objects;
}

lmx_status tensor_write(lmx_backend*, lmx_tensor* dst, const void* src, size_t offset, size_t size,
                        lmx_error*) {
    std::memcpy(static_cast<char*>(dst->data) + offset, src, size);
    return LMX_OK;
}
lmx_status tensor_read(lmx_backend*, const lmx_tensor* src, void* dst, size_t offset, size_t size,
                       lmx_error*) {
    std::memcpy(dst, static_cast<const char*>(src->data) + offset, size);
    return LMX_OK;
}

lmx_status prepare_weight(lmx_backend*, lmx_tensor* w, const void* host, lmx_error*) {
    w->data = const_cast<void*>(host);
    ++g_stats.weights_prepared;
    return LMX_OK;
}
void release_weight(lmx_backend*, lmx_tensor* w) { w->data = nullptr; }

// The bytes a tensor's elements span (rows of whole blocks for the block types).
std::pair<uintptr_t, uintptr_t> span(const lmx_tensor& t) {
    const auto begin = reinterpret_cast<uintptr_t>(t.data);
    const auto row = llamux::row_bytes(static_cast<llamux::DType>(t.dtype), t.ne[0]);
    uintptr_t extent = row ? *row : static_cast<uintptr_t>(t.ne[0]) * t.nb[0];
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1) extent += static_cast<uintptr_t>(t.ne[k] - 1) * t.nb[k];
    }
    return {begin, begin + extent};
}

bool reuses_input_of(const lmx_node& node, const lmx_node& before) {
    if (!node.dst || node.dst->role != LMX_ROLE_ACTIVATION) return false;
    const auto out = span(*node.dst);
    for (const lmx_tensor* in : before.src) {
        if (!in || in->role != LMX_ROLE_ACTIVATION) continue;
        const auto range = span(*in);
        if (out.first < range.second && range.first < out.second) return true;
    }
    return false;
}

lmx_status compile(lmx_backend*, const lmx_node* nodes, int32_t n, lmx_program** out, lmx_error*) {
    for (int32_t i = 1; i < n; ++i) {
        if (reuses_input_of(nodes[i], nodes[i - 1])) ++g_stats.adjacent_overlaps;
    }
    auto* p = new Program{std::vector<lmx_node>(nodes, nodes + n)};
    *out = reinterpret_cast<lmx_program*>(p);
    ++g_stats.live_objects;
    return LMX_OK;
}

lmx_status execute(lmx_backend*, lmx_program* program, const lmx_exec_args* args, lmx_error* err) {
    for (const lmx_node& node : reinterpret_cast<Program*>(program)->nodes) {
        std::string message;
        const lmx_status s = llamux::run_node_ref(node, *args, &message);
        if (s != LMX_OK) {
            plugin::set_error(err, message);
            return s;
        }
        ++g_stats.nodes_run[node.op];
        g_stats.layers_seen_mask |= int64_t{1} << (node.layer + 1);
    }
    return LMX_OK;
}

void program_free(lmx_backend*, lmx_program* program) {
    delete reinterpret_cast<Program*>(program);
    --g_stats.live_objects;
}
lmx_status synchronize(lmx_backend*, lmx_error*) { return LMX_OK; }

const lmx_backend_api kApi = {
    LMX_ABI_VERSION, sizeof(lmx_backend_api), "counting", "test plugin that counts nodes",
    probe, create, destroy, supports_node, is_host_memory, buffer_alloc, buffer_free,
    tensor_write, tensor_read, prepare_weight, release_weight, compile, execute,
    program_free, synchronize,
};

}  // namespace

extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t) { return &kApi; }

// Test hook: Stats::adjacent_overlaps since the process started.
extern "C" LMX_PLUGIN_EXPORT int64_t counting_plugin_adjacent_overlaps() { return g_stats.adjacent_overlaps; }

// Test hook: counters (see Stats); `reset` zeroes them first.
extern "C" LMX_PLUGIN_EXPORT void counting_plugin_stats(int64_t* nodes_per_op, int64_t* layer_mask,
                                                        int64_t* weights, int64_t* live,
                                                        int32_t reset) {
    if (reset) {
        for (auto& n : g_stats.nodes_run) n = 0;
        g_stats.layers_seen_mask = 0;
        g_stats.weights_prepared = 0;
    }
    for (int i = 0; i < LMX_OP_COUNT; ++i) nodes_per_op[i] = g_stats.nodes_run[i];
    *layer_mask = g_stats.layers_seen_mask;
    *weights = g_stats.weights_prepared;
    *live = g_stats.live_objects;
}
