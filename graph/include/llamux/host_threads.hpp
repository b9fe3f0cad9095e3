// How many threads a CPU backend runs when the user gives no -t (part of the plugin SDK).
#pragma once

#include <filesystem>
#include <vector>

namespace llamux {

// One thread per physical core this process may run on (its affinity mask), at least 1:
// llama.cpp's default. Hyperthread siblings share a core's execution units and caches, and
// generation is bound by memory, so a second thread per core mostly adds synchronisation.
// Falls back to the number of CPUs the process may run on where sysfs lacks the topology.
// Computed once; never throws.
int default_thread_count();

// The physical cores among logical CPUs `cpus`, from a sysfs cpu folder laid out as
// /sys/devices/system/cpu (cpuN/topology/physical_package_id and core_id): distinct
// (package, core) pairs. 0 when a CPU's topology cannot be read.
int physical_core_count(const std::filesystem::path& sysfs_cpu, const std::vector<int>& cpus);

}  // namespace llamux
