// default_thread_count(): physical cores from sysfs, within the affinity mask.
#include "llamux/host_threads.hpp"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace llamux {
namespace {

bool read_int(const std::filesystem::path& path, long* value) {
    std::ifstream in(path);
    return static_cast<bool>(in >> *value);
}

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
        }
    }
    return cpus;
}

}  // namespace

int physical_core_count(const std::filesystem::path& sysfs_cpu, const std::vector<int>& cpus) {
    std::set<std::pair<long, long>> cores;
    for (const int c : cpus) {
        const std::filesystem::path topology = sysfs_cpu / ("cpu" + std::to_string(c)) / "topology";
        long package = 0, core = 0;
        if (!read_int(topology / "physical_package_id", &package) || !read_int(topology / "core_id", &core)) {
            return 0;
        }
        cores.insert({package, core});
    }
    return static_cast<int>(cores.size());
}

int default_thread_count() {
    static const int count = [] {
        const std::vector<int> cpus = allowed_cpus();
        const int physical = physical_core_count("/sys/devices/system/cpu", cpus);
        if (physical > 0) return physical;
        if (!cpus.empty()) return static_cast<int>(cpus.size());
        return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    }();
    return count;
}

}  // namespace llamux
