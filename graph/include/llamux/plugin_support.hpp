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

}  // namespace llamux::plugin
