// Deliberately faulty plugins (tests/plugins/faulty_*): a failing create, a failing weight
// upload, a device fault in the middle of execute, and a plugin that claims an op and then
// refuses it. Each time llamux must name the plugin, the node or tensor and the error, free
// everything the plugin made, and -- as a command -- exit with code 1, not crash.
#include <dlfcn.h>
#include <gmock/gmock.h>

#include <cstdlib>

#include "llamux/error.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Holds a faulty plugin's library open for the whole test, so that the runtime loads the
// same instance and its object counter survives the session.
class FaultyLibrary {
public:
    FaultyLibrary(const std::string& folder, const std::string& file)
        : path_(test::test_plugin_dir(folder) / file),
          handle_(::dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL)) {
        EXPECT_NE(handle_, nullptr) << ::dlerror();
    }
    ~FaultyLibrary() {
        if (handle_) ::dlclose(handle_);
    }
    FaultyLibrary(const FaultyLibrary&) = delete;
    FaultyLibrary& operator=(const FaultyLibrary&) = delete;

    // Backends, buffers, prepared weights and programs not yet freed.
    int64_t live_objects() const {
        using Fn = int64_t (*)();
        auto fn = handle_ ? reinterpret_cast<Fn>(::dlsym(handle_, "faulty_plugin_live_objects")) : nullptr;
        return fn ? fn() : -1;
    }

private:
    std::filesystem::path path_;
    void* handle_;
};

struct Fault {
    const char* folder;    // under <build>/test-plugins
    const char* backend;   // the plugin's name
    const char* at;        // LLAMUX_TEST_FAULT_AT, or null
    bool on_decode;        // the error comes from decode, not from Session construction
    std::vector<std::string> expected;  // parts of the message
};

std::string file_of(const Fault& f) {
    std::string name = f.folder;
    for (char& c : name) c = c == '-' ? '_' : c;
    return "libllamux_test_" + name + ".so";
}

const Fault kFaults[] = {
    {"faulty-create", "faulty_create", nullptr, false,
     {"backend faulty_create", "libllamux_test_faulty_create.so", "create failed", "device error",
      "refused a context"}},
    {"faulty-prepare", "faulty_prepare", nullptr, false,
     {"backend faulty_prepare", "preparing weight blk.", "out of memory",
      "device memory exhausted after 4 weights"}},
    {"faulty-execute", "faulty_execute", nullptr, true,
     {"backend faulty_execute", "executing nodes", "device error", "simulated device fault at node",
      " node "}},
    {"faulty-unsupported", "faulty_unsupported", nullptr, false,
     {"backend faulty_unsupported", "compiling nodes", "unsupported", "rope node",
      "claimed by supports_node, but compile"}},
    {"faulty-unsupported", "faulty_unsupported", "execute", true,
     {"backend faulty_unsupported", "executing nodes", "unsupported", "rope node",
      "claimed by supports_node, but execute"}},
};

class FaultyPlugins : public ::testing::TestWithParam<Fault> {
protected:
    void SetUp() override {
        model_path_ = test::find_fixture("models/stories260K.gguf");
        if (model_path_.empty()) {
            if (test::in_ci()) FAIL() << "fixture missing under " << test::data_root();
            GTEST_SKIP() << "fixture missing under " << test::data_root();
        }
        if (GetParam().at) {
            ::setenv("LLAMUX_TEST_FAULT_AT", GetParam().at, 1);
        } else {
            ::unsetenv("LLAMUX_TEST_FAULT_AT");
        }
    }
    void TearDown() override { ::unsetenv("LLAMUX_TEST_FAULT_AT"); }

    SessionOptions options() const {
        SessionOptions o;
        o.plugins.env_path = false;  // the CPU host backend from the default folders
        o.plugins.dirs = {test::test_plugin_dir(GetParam().folder)};
        o.placement.default_backend = GetParam().backend;
        return o;
    }

    std::filesystem::path model_path_;
};

TEST_P(FaultyPlugins, SessionReportsPluginNodeAndErrorAndFreesEverything) {
    const Fault& f = GetParam();
    FaultyLibrary library(f.folder, file_of(f));
    std::string message;
    {
        auto model = Model::load(model_path_.string());
        try {
            Session session(model, options());
            EXPECT_TRUE(f.on_decode) << "Session construction should have failed";
            EXPECT_GT(library.live_objects(), 0);
            try {
                session.decode({1, 403, 260});
                ADD_FAILURE() << "decode should have failed";
            } catch (const Error& e) {
                message = e.what();
            }
            // The session survives the failure: trying again fails the same way.
            EXPECT_THROW(session.decode({1}), Error);
        } catch (const Error& e) {
            EXPECT_FALSE(f.on_decode) << e.what();
            message = e.what();
        }
    }
    for (const auto& part : f.expected) EXPECT_THAT(message, HasSubstr(part));
    EXPECT_EQ(library.live_objects(), 0) << "objects of the plugin left alive";
}

TEST_P(FaultyPlugins, RunCommandExitsWithOneAndTheMessage) {
    const Fault& f = GetParam();
    const auto r = test::run_command({test::llamux_exe().string(), "run", "--backend", f.backend,
                                      "--plugin-dir", test::test_plugin_dir(f.folder).string(),
                                      "-m", model_path_.string(), "-p", "Once upon a time", "-n",
                                      "8", "--temp", "0"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("error: backend " + std::string(f.backend)));
    for (const auto& part : f.expected) EXPECT_THAT(r.err, HasSubstr(part));
    EXPECT_THAT(r.err, Not(HasSubstr("Sanitizer")));
    EXPECT_THAT(r.err, Not(HasSubstr("terminate called")));
}

// Out of memory on the GPU layers (-ngl): the error says what one block needs, and a KV
// cache the GPU backend declines (faulty_prepare declines quantized ones, as the CUDA plugin
// does) is said to stay on the host instead of being counted.
std::string gpu_out_of_memory_message(const std::filesystem::path& path, DType kv_type) {
    auto model = Model::load(path.string());
    SessionOptions o;
    o.plugins.env_path = false;
    o.plugins.dirs = {test::test_plugin_dir("faulty-prepare")};
    o.placement.gpu_backend = "faulty_prepare";
    o.placement.n_gpu_layers = model->hparams().n_layer + 1;
    o.kv_type_k = o.kv_type_v = kv_type;
    o.n_ctx = 2048;
    try {
        Session session(model, o);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(FaultyGpuLayers, OutOfMemoryHintCountsAKvCacheTheGpuKeeps) {
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-Q4_0.gguf");
    FaultyLibrary library("faulty-prepare", "libllamux_test_faulty_prepare.so");
    const std::string message = gpu_out_of_memory_message(path, DType::F16);
    EXPECT_THAT(message, HasSubstr("device memory exhausted"));
    // synth-tiny: 4 KV heads of 32, so 2048 rows of f16 K and V take 1 MiB.
    EXPECT_THAT(message, HasSubstr(", 1 MiB of KV cache at -c 2048)"));
    EXPECT_THAT(message, Not(HasSubstr("stays on the host")));
}

TEST(FaultyGpuLayers, OutOfMemoryHintLeavesADeclinedKvCacheOnTheHost) {
    LLAMUX_FIXTURE(path, "models/synth/synth-tiny-Q4_0.gguf");
    FaultyLibrary library("faulty-prepare", "libllamux_test_faulty_prepare.so");
    const std::string message = gpu_out_of_memory_message(path, DType::Q8_0);
    EXPECT_THAT(message, HasSubstr("device memory exhausted"));
    // 34 bytes per 32 values: 0.53 MiB.
    EXPECT_THAT(message, HasSubstr("its q8_0/q8_0 KV cache of 1 MiB at -c 2048 stays on the host: the GPU backend "
                                   "declines that cache type"));
    EXPECT_EQ(library.live_objects(), 0) << "objects of the plugin left alive";
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultyPlugins, ::testing::ValuesIn(kFaults),
                         [](const auto& param_info) {
                             const Fault& f = param_info.param;
                             return std::string(f.backend) + (f.at ? std::string("_at_") + f.at : "");
                         });

}  // namespace
}  // namespace llamux
