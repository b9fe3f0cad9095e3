// Lazy plugin loading: discovery opens nothing, asking for a backend opens the file named
// for it (libllamux_backend_<name>.so) and no other, and a plugin named otherwise is still
// found by opening the rest. Whether a library is open is asked of the dynamic loader.
#include <dlfcn.h>
#include <gmock/gmock.h>

#include "llamux/backend_set.hpp"
#include "llamux/error.hpp"
#include "llamux/plugin.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

PluginSearch only_dirs(std::vector<fs::path> dirs) {
    PluginSearch s;
    s.default_dirs = false;
    s.env_path = false;
    s.dirs = std::move(dirs);
    return s;
}

// Copies `from` into `dir` as `name`. A copy is a file of its own for the loader, so it is
// open only if the registry opened it (whatever other tests of this process loaded).
fs::path place(const fs::path& from, const fs::path& dir, const std::string& name) {
    fs::copy_file(from, dir / name);
    return fs::canonical(dir / name);
}

// True when the process has `file` open; RTLD_NOLOAD never opens it.
bool is_open(const fs::path& file) {
    void* handle = ::dlopen(file.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (handle) ::dlclose(handle);
    return handle != nullptr;
}

fs::path cpu_plugin() { return test::plugin_dir() / plugin_file_name("cpu"); }
fs::path counting_plugin() {
    return test::test_plugin_dir("counting") / "libllamux_test_counting.so";
}

// One folder as a default install has it: the cpu plugin beside another one.
class LazyLoading : public ::testing::Test {
protected:
    void SetUp() override {
        cpu_ = place(cpu_plugin(), dir_.path(), plugin_file_name("cpu"));
        other_ = place(counting_plugin(), dir_.path(), "libllamux_test_counting.so");
    }
    test::TempDir dir_;
    fs::path cpu_, other_;
};

TEST_F(LazyLoading, DiscoveryOpensNothing) {
    const auto reg = PluginRegistry::discover(only_dirs({dir_.path()}));
    EXPECT_FALSE(is_open(cpu_));
    EXPECT_FALSE(is_open(other_));
}

TEST_F(LazyLoading, CpuSessionOpensOnlyTheCpuPlugin) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    SessionOptions o;
    o.placement.default_backend = "cpu";
    o.plugins = only_dirs({dir_.path()});
    Session s(Model::load(model_path.string()), o);
    EXPECT_EQ(s.plugins().find("cpu")->file(), cpu_);
    EXPECT_TRUE(is_open(cpu_));
    EXPECT_FALSE(is_open(other_));
}

TEST_F(LazyLoading, ListingOpensEverything) {
    const auto reg = PluginRegistry::discover(only_dirs({dir_.path()}));
    ASSERT_NE(reg.find("cpu"), nullptr);
    EXPECT_FALSE(is_open(other_));
    EXPECT_EQ(reg.plugins().size(), 2u);
    EXPECT_TRUE(is_open(other_));
    for (const auto& a : reg.attempts()) EXPECT_TRUE(a.loaded) << a.file << ": " << a.message;
}

TEST_F(LazyLoading, DifferentlyNamedPluginIsFoundByOpeningTheOthers) {
    const auto reg = PluginRegistry::discover(only_dirs({dir_.path()}));
    const auto counting = reg.find("counting");
    ASSERT_NE(counting, nullptr);
    EXPECT_EQ(counting->file(), other_);
    EXPECT_FALSE(is_open(cpu_));  // the later file had it: no need to look further
    EXPECT_EQ(reg.find("warp_drive"), nullptr);
    EXPECT_TRUE(is_open(cpu_));  // opened to learn its name
}

TEST(LazyLoadingOrder, LaterSourceWinsWithoutOpeningTheEarlierFile) {
    test::TempDir first, second;
    const fs::path early = place(cpu_plugin(), first.path(), plugin_file_name("cpu"));
    const fs::path late = place(cpu_plugin(), second.path(), plugin_file_name("cpu"));
    const auto reg = PluginRegistry::discover(only_dirs({first.path(), second.path()}));
    ASSERT_NE(reg.find("cpu"), nullptr);
    EXPECT_EQ(reg.find("cpu")->file(), late);
    EXPECT_FALSE(is_open(early));
    ASSERT_EQ(reg.plugins().size(), 1u);  // opens the earlier one too; the later still wins
    EXPECT_EQ(reg.plugins().front()->file(), late);
}

TEST(LazyLoadingErrors, FileNamedForABackendThatReportsAnotherName) {
    test::TempDir dir;
    place(counting_plugin(), dir.path(), plugin_file_name("cpu"));
    const auto reg = PluginRegistry::discover(only_dirs({dir.path()}));
    EXPECT_EQ(reg.find("cpu"), nullptr);
    ASSERT_NE(reg.find("counting"), nullptr);
    try {
        BackendSet set(reg, {}, "cpu", {});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("backend cpu: no usable plugin"));
        EXPECT_THAT(e.what(), HasSubstr(plugin_file_name("cpu") + ": reports name counting, expected cpu"));
        EXPECT_THAT(e.what(), HasSubstr("loaded: counting"));
    }
}

TEST(LazyLoadingErrors, FileNamedForTheBackendSaysWhyItCannotRun) {
    test::TempDir dir;
    place(test::test_plugin_dir("probe-zero") / "libllamux_test_probe_zero.so", dir.path(),
          plugin_file_name("probe_zero"));
    const auto reg = PluginRegistry::discover(only_dirs({dir.path()}));
    try {
        BackendSet set(reg, {}, "probe_zero", {});
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("backend probe_zero: no usable plugin"));
        EXPECT_THAT(e.what(), HasSubstr(plugin_file_name("probe_zero") +
                                        ": cannot run here: no test accelerator present"));
        EXPECT_THAT(e.what(), HasSubstr("loaded: none"));
    }
}

}  // namespace
}  // namespace llamux
