// Plugin discovery and loading: every failure is one clear record, never a crash, and the
// run goes on with what loaded.
#include <gmock/gmock.h>

#include <cstdlib>
#include <fstream>

#include "llamux/error.hpp"
#include "llamux/plugin.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
using test::test_plugin_dir;

PluginSearch only_dirs(std::vector<std::filesystem::path> dirs) {
    PluginSearch s;
    s.default_dirs = false;
    s.env_path = false;
    s.dirs = std::move(dirs);
    return s;
}

const PluginAttempt& single_attempt(const PluginRegistry& reg) {
    EXPECT_EQ(reg.attempts().size(), 1u);
    return reg.attempts().front();
}

TEST(PluginLoading, FindsTheCpuPluginBesideTheBinary) {
    PluginSearch s;
    s.env_path = false;
    const auto reg = PluginRegistry::discover(s);
    auto cpu = reg.find("cpu");
    ASSERT_NE(cpu, nullptr);
    EXPECT_EQ(cpu->api().abi_version, LMX_ABI_VERSION);
    EXPECT_GT(cpu->probe().score, 0);
    EXPECT_EQ(cpu->file().parent_path().filename(), "plugins");
}

TEST(PluginLoading, MissingFolderIsRecordedNotThrown) {
    const auto reg = PluginRegistry::discover(only_dirs({"/nonexistent/llamux-plugins"}));
    EXPECT_TRUE(reg.plugins().empty());
    EXPECT_FALSE(single_attempt(reg).loaded);
    EXPECT_THAT(single_attempt(reg).message, HasSubstr("not a folder"));
}

TEST(PluginLoading, FileThatIsNotALibrary) {
    test::TempDir dir;
    std::ofstream(dir.path() / "libfake.so") << "this is not an ELF file\n";
    const auto reg = PluginRegistry::discover(only_dirs({dir.path()}));
    EXPECT_TRUE(reg.plugins().empty());
    EXPECT_THAT(single_attempt(reg).message, HasSubstr("not a loadable library"));
    EXPECT_THAT(single_attempt(reg).message, HasSubstr("libfake.so"));
}

TEST(PluginLoading, LibraryWithoutEntryPoint) {
    const auto reg = PluginRegistry::discover(only_dirs({test_plugin_dir("no-entry")}));
    EXPECT_TRUE(reg.plugins().empty());
    EXPECT_THAT(single_attempt(reg).message, HasSubstr("no entry point " LMX_ENTRY_POINT));
}

TEST(PluginLoading, WrongAbiVersionNamesBothVersions) {
    const auto reg = PluginRegistry::discover(only_dirs({test_plugin_dir("wrong-abi")}));
    EXPECT_TRUE(reg.plugins().empty());
    const std::string& m = single_attempt(reg).message;
    EXPECT_THAT(m, HasSubstr("ABI version " + std::to_string(LMX_ABI_VERSION + 98)));
    EXPECT_THAT(m, HasSubstr("expects " + std::to_string(LMX_ABI_VERSION)));
    EXPECT_THAT(m, HasSubstr("libllamux_test_wrong_abi.so"));
}

TEST(PluginLoading, ProbeOfZeroIsSkippedWithItsReason) {
    const auto reg = PluginRegistry::discover(only_dirs({test_plugin_dir("probe-zero")}));
    EXPECT_TRUE(reg.plugins().empty());
    EXPECT_THAT(single_attempt(reg).message, HasSubstr("no test accelerator present"));
}

TEST(PluginLoading, GoodPluginsLoadBesideBadOnes) {
    const auto reg = PluginRegistry::discover(
        only_dirs({test_plugin_dir("no-entry"), test_plugin_dir("wrong-abi"),
                   test_plugin_dir("counting"), "/nonexistent"}));
    ASSERT_EQ(reg.plugins().size(), 1u);
    EXPECT_EQ(reg.plugins().front()->name(), "counting");
}

TEST(PluginLoading, LaterSourceWinsForTheSameName) {
    PluginSearch s = only_dirs({test::plugin_dir()});
    s.files = {test::plugin_dir() / "libllamux_backend_cpu.so"};
    const auto reg = PluginRegistry::discover(s);
    ASSERT_NE(reg.find("cpu"), nullptr);
    EXPECT_EQ(reg.attempts().back().source, "--plugin");
    int cpu_entries = 0;
    for (const auto& p : reg.plugins()) cpu_entries += p->name() == "cpu";
    EXPECT_EQ(cpu_entries, 1);
}

TEST(PluginLoading, EnvironmentPathIsSearched) {
    ::setenv("LLAMUX_PLUGIN_PATH", test_plugin_dir("counting").c_str(), 1);
    PluginSearch s;
    s.default_dirs = false;
    const auto reg = PluginRegistry::discover(s);
    ::unsetenv("LLAMUX_PLUGIN_PATH");
    ASSERT_NE(reg.find("counting"), nullptr);
    EXPECT_EQ(reg.attempts().front().source, "LLAMUX_PLUGIN_PATH");
}

TEST(PluginLoading, UnknownBackendIsAClearError) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    SessionOptions o;
    o.placement.default_backend = "warp_drive";
    try {
        Session s(model, o);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("backend warp_drive: no usable plugin"));
        EXPECT_THAT(e.what(), HasSubstr("cpu"));
    }
}

TEST(PluginLoading, NoUsablePluginStopsWithAClearError) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    SessionOptions o;
    o.plugins = only_dirs({test_plugin_dir("probe-zero"), test_plugin_dir("no-entry")});
    try {
        Session s(model, o);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("backend cpu: no usable plugin"));
        EXPECT_THAT(e.what(), HasSubstr("loaded: none"));
    }
}

TEST(PluginLoading, PluginsCommandListsEveryAttempt) {
    const auto r = test::run_command({test::llamux_exe().string(), "plugins", "--plugin-dir",
                                      test_plugin_dir("probe-zero").string(), "--plugin-dir",
                                      test_plugin_dir("wrong-abi").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("cpu"));
    EXPECT_THAT(r.out, HasSubstr("no test accelerator present"));
    EXPECT_THAT(r.out, HasSubstr("ABI version"));
}

}  // namespace
}  // namespace llamux
