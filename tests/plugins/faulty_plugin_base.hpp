// The body shared by the deliberately faulty test plugins (faulty_*_plugin.cpp): a
// well-behaved host-memory backend that runs every node with the reference ops and
// uploads weights into copies of its own, plus one fault that each plugin's file supplies
// through the hooks below. Built as separate modules, one per fault, so a test can point
// --plugin-dir at exactly one of them.
//
// Each including file defines FAULTY_PLUGIN_NAME and the six hooks, then includes this.
// Every object the plugin hands out (backend, buffer, weight copy, program) is counted;
// tests read the count through faulty_plugin_live_objects() to prove the runtime freed
// everything after a failure.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "llamux/ir.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin_support.hpp"

namespace faulty {

// Hooks, defined by the including file. Each returns LMX_OK to behave, or a failure with
// err filled. `index` counts calls (weights) or positions (nodes) from 0.
lmx_status on_create(lmx_error* err);
lmx_status on_prepare(const lmx_tensor& weight, int64_t index, lmx_error* err);
bool claims(const lmx_node& node);  // what supports_node answers
lmx_status on_compile(const lmx_node& node, int32_t index, int32_t n_nodes, lmx_error* err);
lmx_status on_execute(const lmx_node& node, int32_t index, int32_t n_nodes, lmx_error* err);
// Runs after the reference computed node.dst: a place to spoil the numbers.
void after_node(const lmx_node& node, const lmx_exec_args& args);

// "matmul node blk.0.attn_q (layer 0)" for messages.
inline std::string describe(const lmx_node& node) {
    const bool known = node.op > LMX_OP_NONE && node.op < LMX_OP_COUNT;
    std::string s = known ? std::string(llamux::op_name(static_cast<lmx_op>(node.op))) : "op ?";
    s += " node ";
    s += node.dst && node.dst->name ? node.dst->name : "(unnamed)";
    s += " (layer " + std::to_string(node.layer) + ")";
    return s;
}

}  // namespace faulty

namespace {

namespace plugin = llamux::plugin;

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_weights_seen{0};
int g_backend_token;

struct Program {
    std::vector<lmx_node> nodes;
};

void fp_probe(lmx_probe_result* out) {
    out->score = 1;
    out->n_devices = 1;
    plugin::set_text(out->device, "faulty test device (host memory)");
    plugin::set_text(out->reason, "");
}

lmx_status fp_create(const lmx_backend_config*, lmx_backend** out, lmx_error* err) {
    const lmx_status s = faulty::on_create(err);
    if (s != LMX_OK) return s;
    g_weights_seen = 0;  // weights are counted per backend instance
    *out = reinterpret_cast<lmx_backend*>(&g_backend_token);
    ++g_live;
    return LMX_OK;
}
void fp_destroy(lmx_backend*) { --g_live; }

int32_t fp_supports_node(lmx_backend*, const lmx_node* node) { return faulty::claims(*node) ? 1 : 0; }
int32_t fp_is_host_memory(lmx_backend*) { return 1; }

lmx_status fp_buffer_alloc(lmx_backend*, size_t size, lmx_buffer** out, void** base, lmx_error* err) {
    void* p = std::calloc(1, size ? size : 1);
    if (!p) {
        plugin::set_error(err, "calloc of " + std::to_string(size) + " bytes failed");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    *out = static_cast<lmx_buffer*>(p);
    *base = p;
    ++g_live;
    return LMX_OK;
}
void fp_buffer_free(lmx_backend*, lmx_buffer* b) {
    std::free(b);
    --g_live;
}

lmx_status fp_tensor_write(lmx_backend*, lmx_tensor* dst, const void* src, size_t offset,
                           size_t size, lmx_error*) {
    std::memcpy(static_cast<char*>(dst->data) + offset, src, size);
    return LMX_OK;
}
lmx_status fp_tensor_read(lmx_backend*, const lmx_tensor* src, void* dst, size_t offset,
                          size_t size, lmx_error*) {
    std::memcpy(dst, static_cast<const char*>(src->data) + offset, size);
    return LMX_OK;
}

// "Uploads" the weight: a copy of its bytes, freed by release_weight.
lmx_status fp_prepare_weight(lmx_backend*, lmx_tensor* w, const void* host, lmx_error* err) {
    const lmx_status s = faulty::on_prepare(*w, g_weights_seen++, err);
    if (s != LMX_OK) return s;
    const size_t bytes = w->nb[3] * static_cast<size_t>(w->ne[3]);
    void* copy = std::malloc(bytes ? bytes : 1);
    if (!copy) {
        plugin::set_error(err, "malloc of " + std::to_string(bytes) + " bytes failed");
        return LMX_ERR_OUT_OF_MEMORY;
    }
    std::memcpy(copy, host, bytes);
    w->data = copy;
    ++g_live;
    return LMX_OK;
}
void fp_release_weight(lmx_backend*, lmx_tensor* w) {
    std::free(w->data);
    w->data = nullptr;
    --g_live;
}

lmx_status fp_compile(lmx_backend*, const lmx_node* nodes, int32_t n, lmx_program** out,
                      lmx_error* err) {
    for (int32_t i = 0; i < n; ++i) {
        const lmx_status s = faulty::on_compile(nodes[i], i, n, err);
        if (s != LMX_OK) return s;
    }
    return plugin::guarded(err, [&] {
        *out = reinterpret_cast<lmx_program*>(new Program{std::vector<lmx_node>(nodes, nodes + n)});
        ++g_live;
        return LMX_OK;
    });
}

lmx_status fp_execute(lmx_backend*, lmx_program* program, const lmx_exec_args* args, lmx_error* err) {
    const auto& nodes = reinterpret_cast<Program*>(program)->nodes;
    const auto n = static_cast<int32_t>(nodes.size());
    for (int32_t i = 0; i < n; ++i) {
        lmx_status s = faulty::on_execute(nodes[static_cast<size_t>(i)], i, n, err);
        if (s != LMX_OK) return s;
        std::string message;
        s = llamux::run_node_ref(nodes[static_cast<size_t>(i)], *args, &message);
        if (s != LMX_OK) {
            plugin::set_error(err, message);
            return s;
        }
        faulty::after_node(nodes[static_cast<size_t>(i)], *args);
    }
    return LMX_OK;
}

void fp_program_free(lmx_backend*, lmx_program* program) {
    delete reinterpret_cast<Program*>(program);
    --g_live;
}
lmx_status fp_synchronize(lmx_backend*, lmx_error*) { return LMX_OK; }

const lmx_backend_api kApi = {
    LMX_ABI_VERSION, sizeof(lmx_backend_api), FAULTY_PLUGIN_NAME, "deliberately faulty test plugin",
    fp_probe, fp_create, fp_destroy, fp_supports_node, fp_is_host_memory, fp_buffer_alloc,
    fp_buffer_free, fp_tensor_write, fp_tensor_read, fp_prepare_weight, fp_release_weight,
    fp_compile, fp_execute, fp_program_free, fp_synchronize,
};

}  // namespace

extern "C" LMX_PLUGIN_EXPORT const lmx_backend_api* lmx_backend_get_api(uint32_t) { return &kApi; }

// Test hook: objects handed out and not yet freed (backends, buffers, weights, programs).
extern "C" LMX_PLUGIN_EXPORT int64_t faulty_plugin_live_objects() { return g_live; }
