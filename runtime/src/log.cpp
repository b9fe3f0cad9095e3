#include "llamux/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace llamux {
namespace {

std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::warn;  // quiet on the happy path

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& subsystem) {
    std::lock_guard lock(g_mutex);
    if (auto existing = spdlog::get(subsystem)) return existing;
    auto created = spdlog::stderr_color_mt(subsystem);
    created->set_level(g_level);
    created->set_pattern("[%n] %^%l%$: %v");
    return created;
}

void set_log_level(spdlog::level::level_enum level) {
    std::lock_guard lock(g_mutex);
    g_level = level;
    spdlog::set_level(level);
}

}  // namespace llamux
