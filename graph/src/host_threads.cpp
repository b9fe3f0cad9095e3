// default_thread_count(): physical (performance) cores from sysfs, within the affinity mask.
#include "llamux/host_threads.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
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

// A CPU number at text[pos...], advancing pos; false when there is none.
bool read_cpu_number(const std::string& text, size_t* pos, int* value) {
    const char* first = text.data() + *pos;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, *value);
    if (ec != std::errc() || *value < 0) return false;
    *pos += static_cast<size_t>(end - first);
    return true;
}

}  // namespace

std::optional<std::vector<int>> parse_cpu_list(const std::string& text) {
    // Anything past a CPU number (including its range bound) is checked below.
    std::string list = text;
    while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.pop_back();
    if (list.empty()) return std::nullopt;
    std::vector<int> cpus;
    size_t pos = 0;
    while (true) {
        int first = 0;
        if (!read_cpu_number(list, &pos, &first)) return std::nullopt;
        int last = first;
        if (pos < list.size() && list[pos] == '-') {
            ++pos;
            if (!read_cpu_number(list, &pos, &last) || last < first) return std::nullopt;
        }
        for (int c = first; c <= last; ++c) cpus.push_back(c);
        if (pos == list.size()) return cpus;
        if (list[pos] != ',') return std::nullopt;
        ++pos;
    }
}

std::vector<int> performance_cpus(const std::filesystem::path& sysfs_devices, const std::vector<int>& cpus) {
    std::ifstream in(sysfs_devices / "cpu_core" / "cpus");
    if (!in) return cpus;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::optional<std::vector<int>> listed = parse_cpu_list(text);
    if (!listed) return cpus;
    const std::set<int> performance(listed->begin(), listed->end());
    std::vector<int> kept;
    std::copy_if(cpus.begin(), cpus.end(), std::back_inserter(kept), [&](int c) { return performance.count(c) != 0; });
    return kept.empty() ? cpus : kept;
}

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
        const std::vector<int> cpus = performance_cpus("/sys/devices", allowed_cpus());
        const int physical = physical_core_count("/sys/devices/system/cpu", cpus);
        if (physical > 0) return physical;
        if (!cpus.empty()) return static_cast<int>(cpus.size());
        return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    }();
    return count;
}

}  // namespace llamux
