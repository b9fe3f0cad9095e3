// llamux test-backend NAME: the op-conformance suite (runtime/conformance.hpp) on one
// backend plugin, as a table on stdout. Exit code 1 when any case fails.
#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "llamux/conformance.hpp"
#include "llamux/error.hpp"

namespace llamux::tools {
namespace {

struct TestBackendFlags {
    std::string name;
    std::vector<std::string> dirs;
    std::vector<std::string> files;
    std::string op;
    int32_t threads = 0;
    uint32_t seed = ConformanceOptions{}.seed;
    bool list_declined = false;
};

const char* status_text(CaseStatus s) {
    switch (s) {
        case CaseStatus::passed: return "ok";
        case CaseStatus::failed: return "FAIL";
        case CaseStatus::declined: return "declined";
    }
    return "?";
}

int run_test_backend(const TestBackendFlags& f) {
    if (!f.op.empty()) {
        const auto ops = conformance_ops();
        if (std::find(ops.begin(), ops.end(), f.op) == ops.end()) {
            std::string known;
            for (const auto& op : ops) known += (known.empty() ? "" : ", ") + op;
            throw Error("--op " + f.op + ": expected one of " + known);
        }
    }
    PluginSearch search;
    for (const auto& d : f.dirs) search.dirs.emplace_back(d);
    for (const auto& p : f.files) search.files.emplace_back(p);
    const PluginRegistry registry = PluginRegistry::discover(search);
    const auto plugin = registry.find(f.name);
    if (!plugin) {
        std::string loaded;
        for (const auto& p : registry.plugins()) loaded += (loaded.empty() ? "" : ", ") + p->name();
        throw Error("backend " + f.name + ": no usable plugin of that name was found (loaded: " +
                    (loaded.empty() ? std::string("none") : loaded) + "; see `llamux plugins`)");
    }
    if (f.threads < 0) throw Error("-t: expected a thread count >= 0, got " + std::to_string(f.threads));
    BackendOptions bopt;
    bopt.n_threads = f.threads;
    const auto backend = Backend::create(plugin, bopt);
    std::printf("backend %s (%s): %s\n", plugin->name().c_str(), plugin->file().c_str(),
                plugin->probe().device);

    ConformanceOptions options;
    options.op = f.op;
    options.seed = f.seed;
    std::printf("%-10s %-26s %-40s %-10s %-10s %s\n", "op", "dtypes", "shape", "error", "bound",
                "status");
    const ConformanceReport report = run_conformance(*backend, options, [&](const ConformanceResult& r) {
        if (r.status == CaseStatus::declined) {
            if (f.list_declined) {
                std::printf("%-10s %-26s %-40s %-10s %-10s %s\n", r.op.c_str(), r.dtypes.c_str(),
                            r.shape.c_str(), "-", "-", status_text(r.status));
            }
            return;
        }
        std::printf("%-10s %-26s %-40s %-10.3g %-10.3g %s\n", r.op.c_str(), r.dtypes.c_str(),
                    r.shape.c_str(), r.error, r.bound, status_text(r.status));
        if (!r.message.empty()) std::printf("           %s\n", r.message.c_str());
        std::fflush(stdout);
    });
    std::printf("%s: %zu passed, %zu failed, %zu declined (run by the host backend instead), %zu cases\n",
                plugin->name().c_str(), report.passed(), report.failed(), report.declined(),
                report.results.size());
    return report.failed() == 0 ? 0 : 1;
}

}  // namespace

void add_test_backend_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<TestBackendFlags>();
    auto* cmd = root.add_subcommand(
        "test-backend", "Run the op-conformance suite on a backend plugin against the reference ops");
    cmd->add_option("name", flags->name, "Backend plugin name, as `llamux plugins` lists it")->required();
    cmd->add_option("--plugin-dir", flags->dirs, "Also load plugins from this folder (repeatable)");
    cmd->add_option("--plugin", flags->files, "Also load this plugin file (repeatable)");
    cmd->add_option("--op", flags->op, "Only the cases of this op (get_rows, rms_norm, matmul, ...)");
    cmd->add_option("-t,--threads", flags->threads, "Threads for the backend (default: its choice)");
    cmd->add_option("--seed", flags->seed, "Seed of the random inputs");
    cmd->add_flag("--list-declined", flags->list_declined, "Also list the cases the backend declines");
    cmd->callback([flags, &run] { run = [flags] { return run_test_backend(*flags); }; });
}

}  // namespace llamux::tools
