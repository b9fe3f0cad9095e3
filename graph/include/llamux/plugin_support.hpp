// Header-only conveniences for writing a backend plugin in C++ (part of the plugin SDK).
// Nothing here crosses the ABI: these only help fill the C structures correctly.
#pragma once

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "llamux/backend_abi.h"

namespace llamux::plugin {

// Writes `message` into err (if not null), truncated and NUL-terminated.
inline void set_error(lmx_error* err, const std::string& message) {
    if (!err) return;
    const size_t n = message.size() < LMX_ERROR_CAPACITY - 1 ? message.size() : LMX_ERROR_CAPACITY - 1;
    std::memcpy(err->message, message.data(), n);
    err->message[n] = '\0';
}

// Same for the fixed text fields of lmx_probe_result.
inline void set_text(char (&field)[LMX_TEXT_CAPACITY], const std::string& text) {
    const size_t n = text.size() < LMX_TEXT_CAPACITY - 1 ? text.size() : LMX_TEXT_CAPACITY - 1;
    std::memcpy(field, text.data(), n);
    field[n] = '\0';
}

// Runs `body` (returning lmx_status) so that no exception crosses the C boundary:
// bad_alloc becomes LMX_ERR_OUT_OF_MEMORY, anything else LMX_ERR_INTERNAL, with a message.
template <typename Body>
lmx_status guarded(lmx_error* err, Body&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        set_error(err, "out of host memory");
        return LMX_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_error(err, e.what());
        return LMX_ERR_INTERNAL;
    } catch (...) {
        set_error(err, "unknown exception in plugin");
        return LMX_ERR_INTERNAL;
    }
}

// Forwards a formatted line to the host's log callback, if any.
inline void log(const lmx_backend_config& config, int32_t level, const std::string& message) {
    if (config.log) config.log(config.log_user, level, message.c_str());
}

// The thread count a program of `nodes` should run on: config.n_threads_batch when it
// evaluates more than one token (a matmul whose activations have several columns: a
// prompt), else n_threads, as llama.cpp picks -tb or -t per batch. Each <= 0 stands for the
// plugin's default, `fallback`.
inline int32_t program_threads(const lmx_backend_config& config, const lmx_node* nodes, int32_t n_nodes,
                               int32_t fallback) {
    const int32_t single = config.n_threads > 0 ? config.n_threads : fallback;
    for (int32_t i = 0; i < n_nodes; ++i) {
        const lmx_node& node = nodes[i];
        if (node.op == LMX_OP_MATMUL && node.src[1] != nullptr && node.src[1]->ne[1] > 1) {
            return config.n_threads_batch > 0 ? config.n_threads_batch : single;
        }
    }
    return single;
}

}  // namespace llamux::plugin
