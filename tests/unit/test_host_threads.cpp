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
