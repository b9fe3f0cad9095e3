// Logging: one named spdlog logger per subsystem ("gguf", "plugins", "sched", ...), all
// writing to stderr, all governed by one level (set by -v / --log-level in tools/).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace llamux {

// The logger of a subsystem, created on first use with the current global level.
std::shared_ptr<spdlog::logger> logger(const std::string& subsystem);
// Sets the level of every llamux logger, existing and future.
void set_log_level(spdlog::level::level_enum level);

}  // namespace llamux
