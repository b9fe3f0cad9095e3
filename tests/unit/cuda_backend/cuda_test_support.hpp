// What the CUDA backend's test files (test_cuda_backend, tests/unit/cuda_backend/) share:
// the plugin they load, the macros that skip a test without a GPU (or fail it in the
// emulated build), host tensors with random contents, and a scoped environment variable.
// Built into both test binaries (for the GPU and for the emulator, tests/CMakeLists.txt);
// LLAMUX_HAVE_CUDA and LLAMUX_CUDA_EMULATED come from there.
#pragma once

#include <gmock/gmock.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llamux/backend.hpp"
#include "llamux/dtype.hpp"
#include "llamux/plugin.hpp"

namespace llamux::cuda_test {

// backends/cuda/CMakeLists.txt defines LLAMUX_HAVE_CUDA when it builds the plugin.
#ifdef LLAMUX_HAVE_CUDA
#define LLAMUX_REQUIRE_CUDA_BUILD() (void)0
#else
#define LLAMUX_REQUIRE_CUDA_BUILD() \
    GTEST_SKIP() << "built without the CUDA plugin (no CUDA toolkit found, or LLAMUX_CUDA=OFF)"
#endif

// The file sessions will load: the plugin folder beside the binary wins over the installed
// one (as in PluginRegistry); in the build tree that is test::plugin_dir(), in the folder
// scripts/gpu_check.sh assembles it is .device/lib/llamux/plugins.
std::filesystem::path cuda_plugin_file();

// The plugin, loaded once and never unloaded: sessions load the same file again and get
// the same library, so the CUDA runtime inside it starts once per test process (as in a
// llamux process) instead of once per session.
std::shared_ptr<Plugin> cuda_plugin();

#ifdef LLAMUX_CUDA_EMULATED
// test_cuda_backend_emulated: the plugin beside it is the emulated one, which runs on every
// machine; not finding it is a failure (else every test would skip and pass).
#define LLAMUX_REQUIRE_GPU()                                                                            \
    ASSERT_GT(::llamux::cuda_test::cuda_plugin()->probe().score, 0)                                     \
        << "the emulated cuda plugin cannot run: " << ::llamux::cuda_test::cuda_plugin()->probe().reason; \
    ASSERT_THAT(std::string(::llamux::cuda_test::cuda_plugin()->probe().device), ::testing::HasSubstr("emulator"))
#else
// Skips the test unless the plugin was built and its probe finds a usable GPU.
#define LLAMUX_REQUIRE_GPU()                                                               \
    LLAMUX_REQUIRE_CUDA_BUILD();                                                           \
    if (::llamux::cuda_test::cuda_plugin()->probe().score <= 0) {                          \
        GTEST_SKIP() << "cuda plugin cannot run here: " << ::llamux::cuda_test::cuda_plugin()->probe().reason; \
    }
#endif

// A host tensor with its bytes; strides contiguous.
struct HostTensor {
    lmx_tensor t{};
    std::vector<std::byte> bytes;
    std::string name;
};

// A zeroed tensor of `dtype` and shape `ne`, named `name`.
std::unique_ptr<HostTensor> make_tensor(const std::string& name, DType dtype, lmx_tensor_role role,
                                        std::array<int64_t, 4> ne);
// Fills a tensor with values uniform in [-scale, scale], stored as its dtype.
void fill_random(HostTensor& h, uint32_t seed, float scale = 1.0f);
// The rows of a tensor of t's type and shape at `data`, as floats.
std::vector<float> as_floats(const lmx_tensor& t, const void* data);

// Sets an environment variable for its lifetime and restores what was there before (a ctest
// run may have set it for the whole process).
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        EXPECT_EQ(setenv(name, value, 1), 0);
    }
    ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace llamux::cuda_test
