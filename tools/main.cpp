// llamux: the command line. Thin: parsing and printing over the runtime's API.
#include <cstdio>
#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/log.hpp"

int main(int argc, char** argv) {
    CLI::App app{"llamux: Llama 2 inference on pluggable compute backends"};
    app.require_subcommand(1);
    int verbosity = 0;
    app.add_flag("-v,--verbose", verbosity, "More log output on stderr (-v info, -vv debug, -vvv trace)");

    llamux::tools::CommandFn run;
    llamux::tools::add_info_command(app, run);
    llamux::tools::add_tokenize_command(app, run);
    llamux::tools::add_run_command(app, run);
    llamux::tools::add_chat_command(app, run);
    llamux::tools::add_eval_command(app, run);
    llamux::tools::add_plugins_command(app, run);
    llamux::tools::add_quantize_command(app, run);
    llamux::tools::add_synth_command(app, run);
    llamux::tools::add_bench_command(app, run);
    llamux::tools::add_test_backend_command(app, run);
    llamux::tools::add_perplexity_command(app, run);
    llamux::tools::add_embedding_command(app, run);
    llamux::tools::add_convert_command(app, run);

    // llama.cpp spells some flags as multi-letter short flags ("-ngl"), which CLI11 cannot
    // declare: accept them by rewriting them to their long names before parsing.
    static const std::pair<std::string, std::string> kShortSpellings[] = {
        {"-ngl", "--n-gpu-layers"}, {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"}};
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        for (const auto& [short_name, long_name] : kShortSpellings) {
            if (a == short_name || a.rfind(short_name + "=", 0) == 0) {
                a = long_name + a.substr(short_name.size());
                break;
            }
        }
        args.push_back(a);
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    const spdlog::level::level_enum levels[] = {spdlog::level::warn, spdlog::level::info,
                                                spdlog::level::debug, spdlog::level::trace};
    llamux::set_log_level(levels[verbosity > 3 ? 3 : verbosity]);
    try {
        return run ? run() : 1;
    } catch (const llamux::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
