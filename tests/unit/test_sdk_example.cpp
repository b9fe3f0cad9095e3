// The plugin SDK end to end, as an outside author meets it: install llamux into a fresh
// prefix, build examples/example-backend against that prefix with find_package(llamux),
// drop the plugin into a folder, and run the installed binary with it.
#include <gmock/gmock.h>

#include <fstream>

#include "test_data.hpp"

#ifndef LLAMUX_CMAKE_COMMAND
#error "tests/CMakeLists.txt passes LLAMUX_CMAKE_COMMAND to this test"
#endif

namespace llamux {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string show(const test::CommandResult& r) { return "stdout:\n" + r.out + "\nstderr:\n" + r.err; }

TEST(SdkExample, InstallBuildAgainstItAndRunTheExampleBackend) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    const test::Reference ref = test::load_reference(ref_path);
    test::TempDir tmp;
    const fs::path prefix = tmp.path() / "prefix";
    const std::string cmake = LLAMUX_CMAKE_COMMAND;

    // 1. cmake --install: the binary, its plugins, the SDK headers, library and package.
    auto r = test::run_command({cmake, "--install", test::build_dir().string(), "--prefix", prefix.string()});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    for (const char* file : {"bin/llamux", "lib/llamux/plugins/libllamux_backend_cpu.so",
                             "include/llamux/backend_abi.h", "include/llamux/plugin_support.hpp",
                             "include/llamux/ops_ref.hpp", "include/llamux/quant_ref.hpp",
                             "lib/libllamux_graph.a", "lib/cmake/llamux/llamuxConfig.cmake",
                             "lib/cmake/llamux/llamuxTargets.cmake"}) {
        EXPECT_TRUE(fs::exists(prefix / file)) << file;
    }
    EXPECT_FALSE(fs::exists(prefix / "include/llamux/session.hpp")) << "runtime headers are not SDK";

    // The installed binary finds its own plugins (beside it, ../lib/llamux/plugins).
    const std::string llamux = (prefix / "bin" / "llamux").string();
    r = test::run_command({llamux, "plugins"});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_THAT(r.out, HasSubstr((prefix / "lib/llamux/plugins/libllamux_backend_cpu.so").string()));

    // 2. The example, configured and built as its own project against the prefix.
    const fs::path build = tmp.path() / "example-build";
    std::vector<std::string> configure = {cmake, "-S", (test::source_dir() / "examples/example-backend").string(),
                                          "-B", build.string(), "-DCMAKE_PREFIX_PATH=" + prefix.string(),
                                          "-DCMAKE_BUILD_TYPE=Release",
                                          "-DCMAKE_CXX_COMPILER=" LLAMUX_CXX_COMPILER};
    if (std::string(LLAMUX_SANITIZE_FLAGS).size()) {
        configure.push_back("-DCMAKE_CXX_FLAGS=" LLAMUX_SANITIZE_FLAGS);
    }
    r = test::run_command(configure);
    ASSERT_EQ(r.exit_code, 0) << show(r);
    r = test::run_command({cmake, "--build", build.string(), "-j", "2"});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    const fs::path plugins = tmp.path() / "plugins";
    fs::create_directories(plugins);
    fs::copy_file(build / "libllamux_backend_example.so", plugins / "libllamux_backend_example.so");

    // 3. Greedy generation with every layer on "example": the reference text exactly.
    r = test::run_command({llamux, "run", "--backend", "example", "--plugin-dir", plugins.string(),
                           "-m", model.string(), "-p", ref.prompt, "-n", "64", "--temp", "0"});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(r.out, ref.prompt + ref.greedy_text);

    // 4. The conformance suite passes on it.
    r = test::run_command({llamux, "test-backend", "example", "--plugin-dir", plugins.string()});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_THAT(r.out, HasSubstr("example: "));
    EXPECT_THAT(r.out, HasSubstr(" 0 failed"));
}

}  // namespace
}  // namespace llamux
