// llamux: the command line. Thin: parsing and printing over the runtime's API.
#include <cstdio>
#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "llama_cpp_spellings.hpp"
#include "llamux/error.hpp"
#include "llamux/log.hpp"

int main(int argc, char** argv) {
    CLI::App app{"llamux: Llama 2 inference on pluggable compute backends"};
    app.require_subcommand(1);
    int verbosity = 0;
    app.fallthrough();  // -v also after the subcommand: llamux run -m F -v
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

    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        args = llamux::tools::translate_llama_cpp_flags(app, std::move(args));
    } catch (const llamux::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
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
