// The CUDA plugin's environment knobs (backends/cuda/cuda_settings.hpp): their parsing is
// plain C++, so it runs on every machine; what each knob does needs the plugin
// (test_cuda_backend, and its emulated runs in tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "cuda_settings.hpp"

namespace llamux::cuda {
namespace {

// An environment holding exactly `vars`.
EnvLookup env_of(const std::map<std::string, std::string>& vars) {
    return [vars](const char* name) -> const char* {
        const auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
}

Settings read_ok(const std::map<std::string, std::string>& vars) {
    Settings s;
    std::string why;
    EXPECT_TRUE(read_settings(env_of(vars), &s, &why)) << why;
    EXPECT_TRUE(why.empty()) << why;
    return s;
}

// read_settings refuses `value` for `name`; returns the message.
std::string refused(const std::string& name, const std::string& value) {
    Settings s;
    std::string why;
    EXPECT_FALSE(read_settings(env_of({{name, value}}), &s, &why)) << name << "=" << value;
    return why;
}

TEST(CudaSettings, UnsetOrEmptyKeepsTheDefaults) {
    for (const Settings& s : {read_ok({}), read_ok({{"LLAMUX_CUDA_FUSE", ""},
                                                     {"LLAMUX_CUDA_MEMORY_LIMIT_MIB", ""},
                                                     {"LLAMUX_CUDA_SPLIT_ATTENTION_FROM", ""},
                                                     {"LLAMUX_CUDA_GRAPHS", ""}})}) {
        EXPECT_EQ(s.memory_limit, 0u);
        EXPECT_EQ(s.fusion_level, 3);
        EXPECT_EQ(s.split_attention_from, 1024);
        EXPECT_TRUE(s.graphs);
        EXPECT_TRUE(s.pdl);
        EXPECT_FALSE(s.early_weights);
        EXPECT_FALSE(s.weights_first);
        EXPECT_FALSE(s.split_blocks);
        EXPECT_FALSE(s.profile);
    }
}

TEST(CudaSettings, WellFormedValuesAreRead) {
    const Settings s = read_ok({{"LLAMUX_CUDA_MEMORY_LIMIT_MIB", "4096"},
                                {"LLAMUX_CUDA_FUSE", "6"},
                                {"LLAMUX_CUDA_SPLIT_ATTENTION_FROM", "0"},
                                {"LLAMUX_CUDA_GRAPHS", "0"},
                                {"LLAMUX_CUDA_PDL", "0"},
                                {"LLAMUX_CUDA_EARLY_WEIGHTS", "1"},
                                {"LLAMUX_CUDA_WEIGHTS_FIRST", "1"},
                                {"LLAMUX_CUDA_SPLIT_BLOCKS", "1"},
                                {"LLAMUX_CUDA_PROFILE", "1"}});
    EXPECT_EQ(s.memory_limit, size_t{4096} << 20);
    EXPECT_EQ(s.fusion_level, 6);
    EXPECT_EQ(s.split_attention_from, 0);
    EXPECT_FALSE(s.graphs);
    EXPECT_FALSE(s.pdl);
    EXPECT_TRUE(s.early_weights);
    EXPECT_TRUE(s.weights_first);
    EXPECT_TRUE(s.split_blocks);
    EXPECT_TRUE(s.profile);
    EXPECT_EQ(read_ok({{"LLAMUX_CUDA_FUSE", "0"}}).fusion_level, 0);
    EXPECT_EQ(read_ok({{"LLAMUX_CUDA_SPLIT_ATTENTION_FROM", "100000000"}}).split_attention_from, 100000000);
    EXPECT_EQ(read_ok({{"LLAMUX_CUDA_SPLIT_ATTENTION_FROM", std::to_string(INT64_MAX)}}).split_attention_from,
              INT64_MAX);
}

TEST(CudaSettings, MemoryLimitRunsFromOneMiBToTheLargestSize) {
    EXPECT_EQ(read_ok({{"LLAMUX_CUDA_MEMORY_LIMIT_MIB", "1"}}).memory_limit, size_t{1} << 20);
    EXPECT_EQ(read_ok({{"LLAMUX_CUDA_MEMORY_LIMIT_MIB", std::to_string(SIZE_MAX >> 20)}}).memory_limit,
              (SIZE_MAX >> 20) << 20);
    const std::string past_largest = std::to_string((SIZE_MAX >> 20) + 1);
    for (const std::string value : {"12x", "-1", "0", " 5", "1.5", "99999999999999999999999", past_largest.c_str()}) {
        const std::string why = refused("LLAMUX_CUDA_MEMORY_LIMIT_MIB", value);
        EXPECT_EQ(why, "LLAMUX_CUDA_MEMORY_LIMIT_MIB: expected a whole number of MiB from 1 to " +
                           std::to_string(SIZE_MAX >> 20) + ", got '" + value + "'");
    }
}

TEST(CudaSettings, MalformedValuesNameTheVariableWhatItTakesAndTheValue) {
    for (const std::string value : {"7", "-1", "3x", "+3", " 3", "three"}) {
        EXPECT_EQ(refused("LLAMUX_CUDA_FUSE", value),
                  "LLAMUX_CUDA_FUSE: expected a fusion level from 0 to 6, got '" + value + "'");
    }
    for (const std::string value : {"-5", "1k", "1e3", "99999999999999999999"}) {
        EXPECT_EQ(refused("LLAMUX_CUDA_SPLIT_ATTENTION_FROM", value),
                  "LLAMUX_CUDA_SPLIT_ATTENTION_FROM: expected a whole number of cache rows from 0 to " +
                      std::to_string(INT64_MAX) + ", got '" + value + "'");
    }
    for (const char* name : {"LLAMUX_CUDA_GRAPHS", "LLAMUX_CUDA_PDL", "LLAMUX_CUDA_EARLY_WEIGHTS",
                             "LLAMUX_CUDA_WEIGHTS_FIRST", "LLAMUX_CUDA_SPLIT_BLOCKS", "LLAMUX_CUDA_PROFILE"}) {
        for (const std::string value : {"2", "yes", "true", "on", "01", "1 "}) {
            EXPECT_EQ(refused(name, value), std::string(name) + ": expected 0 or 1, got '" + value + "'");
        }
    }
}

// The first malformed knob stops the reading: the message names that one.
TEST(CudaSettings, TheFirstMalformedKnobIsTheOneNamed) {
    Settings s;
    std::string why;
    EXPECT_FALSE(read_settings(env_of({{"LLAMUX_CUDA_FUSE", "9"}, {"LLAMUX_CUDA_PDL", "no"}}), &s, &why));
    EXPECT_EQ(why.rfind("LLAMUX_CUDA_FUSE: ", 0), 0u) << why;
}

}  // namespace
}  // namespace llamux::cuda
