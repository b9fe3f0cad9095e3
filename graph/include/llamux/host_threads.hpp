// How many threads a CPU backend runs when the user gives no -t (part of the plugin SDK).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace llamux {

// One thread per physical core this process may run on (its affinity mask), at least 1:
// llama.cpp's default. Hyperthread siblings share a core's execution units and caches, and
// generation is bound by memory, so a second thread per core mostly adds synchronisation.
// On a hybrid CPU (Intel's performance and efficiency cores) only the performance cores
// count, as in llama.cpp: the threads of one matmul finish together, so a slower core holds
// the others up. Falls back to the number of CPUs the process may run on where sysfs lacks
// the topology. Computed once; never throws.
int default_thread_count();

// The CPUs among `cpus` that are performance cores, from a sysfs devices folder laid out as
// /sys/devices: Linux lists a hybrid CPU's performance cores in cpu_core/cpus (and its
// efficiency cores in cpu_atom/cpus). `cpus` itself where there is no such list (not a
// hybrid CPU), it cannot be parsed, or none of `cpus` is in it.
std::vector<int> performance_cpus(const std::filesystem::path& sysfs_devices, const std::vector<int>& cpus);

// A Linux CPU list ("0-3,8,10-11\n") as CPU numbers in the order written; nullopt when
// malformed (empty, a reversed range, anything but digits, '-' and ',').
std::optional<std::vector<int>> parse_cpu_list(const std::string& text);

// The physical cores among logical CPUs `cpus`, from a sysfs cpu folder laid out as
// /sys/devices/system/cpu (cpuN/topology/physical_package_id and core_id): distinct
// (package, core) pairs. 0 when a CPU's topology cannot be read.
int physical_core_count(const std::filesystem::path& sysfs_cpu, const std::vector<int>& cpus);

}  // namespace llamux
