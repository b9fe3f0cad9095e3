// default_thread_count(): one thread per physical core, as llama.cpp's -t default; counted
// from a sysfs cpu folder (here a fake one) over the CPUs the process may use.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "llamux/host_threads.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

// cpuN/topology/{physical_package_id,core_id} for each (package, core) given, N = index.
fs::path fake_sysfs(const std::string& name, const std::vector<std::pair<int, int>>& topology) {
    const fs::path root =
        fs::temp_directory_path() / ("llamux_test_sysfs_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root);
    for (size_t n = 0; n < topology.size(); ++n) {
        const fs::path dir = root / ("cpu" + std::to_string(n)) / "topology";
        fs::create_directories(dir);
        std::ofstream(dir / "physical_package_id") << topology[n].first << "\n";
        std::ofstream(dir / "core_id") << topology[n].second << "\n";
    }
    return root;
}

TEST(HostThreads, SiblingsOfACoreCountOnce) {
    // Two packages of two cores, two hyperthreads each, numbered as Linux does (siblings
    // apart): cpu0-3 the first threads, cpu4-7 their siblings.
    const fs::path root = fake_sysfs("smt", {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 0}, {0, 1}, {1, 0}, {1, 1}});
    EXPECT_EQ(physical_core_count(root, {0, 1, 2, 3, 4, 5, 6, 7}), 4);
    EXPECT_EQ(physical_core_count(root, {0, 4}), 1);  // an affinity mask of one core's threads
    EXPECT_EQ(physical_core_count(root, {0, 2, 5}), 3);
    fs::remove_all(root);
}

TEST(HostThreads, UnreadableTopologyCountsNothing) {
    const fs::path root = fake_sysfs("partial", {{0, 0}, {0, 1}});
    EXPECT_EQ(physical_core_count(root, {0, 1}), 2);
    EXPECT_EQ(physical_core_count(root, {0, 1, 2}), 0);  // cpu2 has no topology
    fs::remove_all(root);
}

TEST(HostThreads, CpuListsParseAsLinuxWritesThem) {
    EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
    EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
    for (const char* bad : {"", "\n", "3-1", "1,,2", "1-", "-1", "a", "0-3,", "1 2"}) {
        EXPECT_FALSE(parse_cpu_list(bad).has_value()) << "'" << bad << "'";
    }
}

// A sysfs devices folder whose cpu_core/cpus holds `list` (none when list is null).
fs::path fake_devices(const std::string& name, const char* list) {
    const fs::path root =
        fs::temp_directory_path() / ("llamux_test_devices_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "cpu");
    if (list != nullptr) {
        fs::create_directories(root / "cpu_core");
        std::ofstream(root / "cpu_core" / "cpus") << list << "\n";
    }
    return root;
}

TEST(HostThreads, HybridCpusCountOnlyTheirPerformanceCores) {
    // An Intel hybrid laptop: 6 performance cores with two threads each (cpu0-11, siblings
    // adjacent) and 8 efficiency cores (cpu12-19).
    std::vector<std::pair<int, int>> topology;
    for (int core = 0; core < 6; ++core) topology.insert(topology.end(), 2, {0, core * 4});
    for (int core = 0; core < 8; ++core) topology.push_back({0, 24 + core});
    const fs::path cpus = fake_sysfs("hybrid", topology);
    const fs::path devices = fake_devices("hybrid", "0-11");
    std::vector<int> all(20);
    for (int c = 0; c < 20; ++c) all[c] = c;

    EXPECT_EQ(physical_core_count(cpus, performance_cpus(devices, all)), 6);
    EXPECT_EQ(physical_core_count(cpus, all), 14);
    // Pinned to efficiency cores only: those are what there is.
    EXPECT_EQ(performance_cpus(devices, {12, 13, 14}), (std::vector<int>{12, 13, 14}));
    EXPECT_EQ(performance_cpus(devices, {2, 3, 12}), (std::vector<int>{2, 3}));

    const fs::path plain = fake_devices("plain", nullptr);
    EXPECT_EQ(performance_cpus(plain, all), all);
    const fs::path garbled = fake_devices("garbled", "zero-eleven");
    EXPECT_EQ(performance_cpus(garbled, all), all);
    for (const fs::path& root : {cpus, devices, plain, garbled}) fs::remove_all(root);
}

TEST(HostThreads, DefaultIsAtLeastOneAndAtMostTheHardwareThreads) {
    const int n = default_thread_count();
    EXPECT_GE(n, 1);
    const unsigned hw = std::thread::hardware_concurrency();
    if (hw > 0) {
        EXPECT_LE(n, static_cast<int>(hw));
    }
    EXPECT_EQ(default_thread_count(), n);
}

}  // namespace
}  // namespace llamux
