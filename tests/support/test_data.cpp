#include "test_data.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

namespace llamux::test {

namespace fs = std::filesystem;

fs::path data_root() {
    if (const char* env = std::getenv("LLAMUX_TEST_DATA"); env && *env) return fs::path(env);
    return fs::path(LLAMUX_DEFAULT_TEST_DATA);
}

bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

fs::path find_fixture(const std::string& relative) {
    fs::path p = data_root() / relative;
    return fs::exists(p) ? p : fs::path();
}

fs::path build_dir() { return fs::path(LLAMUX_BINARY_DIR); }
fs::path source_dir() { return fs::path(LLAMUX_SOURCE_DIR); }
fs::path llamux_exe() { return build_dir() / "bin" / "llamux"; }
fs::path plugin_dir() { return build_dir() / "lib" / "llamux" / "plugins"; }
fs::path test_plugin_dir(const std::string& name) { return build_dir() / "test-plugins" / name; }

std::vector<std::string> reference_files() {
    std::vector<std::string> names;
    const fs::path dir = data_root() / "testdata" / "reference";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.path().extension() == ".json") names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    if (names.empty()) names.push_back("stories260K-F32.once-upon-a-time.json");  // skips
    return names;
}

std::string reference_test_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param.substr(0, info.param.size() - 5);
    for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return s;
}

Reference load_reference(const fs::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    const auto j = nlohmann::json::parse(in);
    Reference r;
    r.model = j.at("model").get<std::string>();
    r.prompt = j.at("prompt").get<std::string>();
    r.n_vocab = j.at("n_vocab").get<int32_t>();
    r.prompt_tokens = j.at("prompt_tokens").get<std::vector<int32_t>>();
    r.logits = j.at("logits").get<std::vector<std::vector<float>>>();
    r.greedy_tokens = j.at("greedy_tokens").get<std::vector<int32_t>>();
    r.greedy_text = j.at("greedy_text").get<std::string>();
    return r;
}

double relative_row_error(const std::vector<float>& actual, const std::vector<float>& expected) {
    if (actual.size() != expected.size()) return INFINITY;
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(double(actual[i]) - double(expected[i])));
        max_ref = std::max(max_ref, std::fabs(double(expected[i])));
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

namespace {

std::string drain(int fd) {
    std::string out;
    std::array<char, 4096> buf{};
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) out.append(buf.data(), size_t(n));
    ::close(fd);
    return out;
}

}  // namespace

CommandResult run_llamux(std::vector<std::string> args) {
    args.insert(args.begin(), llamux_exe().string());
    return run_command(args);
}

namespace {

std::string joined(const std::vector<std::string>& flags) {
    std::string out;
    for (const auto& f : flags) out += (out.empty() ? "" : " ") + f;
    return out;
}

CommandResult run_case(const std::vector<std::string>& base, const FlagCase& c) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    return run_llamux(args);
}

}  // namespace

void expect_outputs(const std::vector<std::string>& base, const std::vector<FlagCase>& cases) {
    for (const FlagCase& c : cases) {
        const CommandResult r = run_case(base, c);
        EXPECT_EQ(r.exit_code, 0) << joined(c.flags) << ": " << r.err;
        EXPECT_EQ(r.out, c.expected) << joined(c.flags);
    }
}

void expect_flag_errors(const std::vector<std::string>& base, const std::vector<FlagCase>& cases) {
    for (const FlagCase& c : cases) {
        const CommandResult r = run_case(base, c);
        EXPECT_NE(r.exit_code, 0) << joined(c.flags);
        EXPECT_NE(r.err.find(c.expected), std::string::npos)
            << joined(c.flags) << ": expected \"" << c.expected << "\" on stderr, got: " << r.err;
    }
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    std::signal(SIGPIPE, SIG_IGN);  // a child that exits unread makes write fail, not kill us
    CommandResult r;
    std::thread writer([&] {
        // A child that stops reading early closes the pipe: ignore the write's failure.
        for (size_t done = 0; done < input.size();) {
            const ssize_t n = ::write(in_pipe[1], input.data() + done, input.size() - done);
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
        ::close(in_pipe[1]);
    });
    std::thread err_reader([&] { r.err = drain(err_pipe[0]); });
    r.out = drain(out_pipe[0]);
    err_reader.join();
    writer.join();
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

TempDir::TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("llamux-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(rd()));
    fs::create_directories(path_);
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

}  // namespace llamux::test
