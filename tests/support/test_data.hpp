// Shared helpers of the test suite: where fixtures are, how to read reference outputs,
// how to run the llamux binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace llamux::test {

// LLAMUX_TEST_DATA, or ../shared beside the source checkout.
std::filesystem::path data_root();
// True when CI=true: a missing fixture is then a failure, not a skip.
bool in_ci();
// data_root()/relative if it exists, else an empty path.
std::filesystem::path find_fixture(const std::string& relative);

std::filesystem::path build_dir();   // the CMake build tree
std::filesystem::path source_dir();  // the checkout
std::filesystem::path llamux_exe();  // build_dir()/bin/llamux
std::filesystem::path plugin_dir();  // build_dir()/lib/llamux/plugins
// The folder of one test plugin (tests/plugins): counting, no-entry, wrong-abi, probe-zero.
std::filesystem::path test_plugin_dir(const std::string& name);

// A reference file of ../shared/testdata/reference.
struct Reference {
    std::string model, prompt;
    int32_t n_vocab = 0;
    std::vector<int32_t> prompt_tokens;
    std::vector<std::vector<float>> logits;  // one row per prompt position
    std::vector<int32_t> greedy_tokens;
    std::string greedy_text;
};
Reference load_reference(const std::filesystem::path& path);
// The names of every reference file (*.json in testdata/reference), sorted; when there are
// none, one name whose test then skips (or fails in CI) as a missing fixture.
std::vector<std::string> reference_files();
// A test name for a reference file: its name without ".json", other characters than
// letters and digits as '_'.
std::string reference_test_name(const ::testing::TestParamInfo<std::string>& info);

// max |a - b| over the row divided by max |b|: the relative error measure of the fixtures.
double relative_row_error(const std::vector<float>& actual, const std::vector<float>& expected);

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
// Runs argv[0] with the arguments, no shell, `input` on its stdin (then end of input);
// captures stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = {});
// run_command of the llamux binary (llamux_exe()) with these arguments.
CommandResult run_llamux(std::vector<std::string> args);

// A command line's extra flags and what it must print: the whole stdout (expect_outputs)
// or a part of stderr (expect_flag_errors).
struct FlagCase {
    std::vector<std::string> flags;
    std::string expected;
};
// Runs llamux with `base` then each case's flags: exit 0 and stdout exactly `expected`.
void expect_outputs(const std::vector<std::string>& base, const std::vector<FlagCase>& cases);
// Runs llamux with `base` then each case's flags: a non-zero exit, `expected` on stderr.
void expect_flag_errors(const std::vector<std::string>& base, const std::vector<FlagCase>& cases);

// A fresh temporary directory, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace llamux::test

// Declares `var` as the fixture path; skips the test when it is missing, fails in CI.
#define LLAMUX_FIXTURE(var, relative)                                                   \
    const std::filesystem::path var = ::llamux::test::find_fixture(relative);           \
    if (var.empty()) {                                                                  \
        if (::llamux::test::in_ci()) {                                                  \
            FAIL() << "fixture missing: " << (::llamux::test::data_root() / (relative)); \
        } else {                                                                        \
            GTEST_SKIP() << "fixture missing: "                                         \
                         << (::llamux::test::data_root() / (relative));                 \
        }                                                                               \
    }
