// Subcommands of the llamux binary. Each add_*_command registers its CLI11 subcommand and
// stores the function to run when it is chosen; that function returns the exit code and
// may throw llamux::Error (printed as one line by main).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace llamux::tools {

using CommandFn = std::function<int()>;

void add_info_command(CLI::App& root, CommandFn& run);
void add_tokenize_command(CLI::App& root, CommandFn& run);
void add_run_command(CLI::App& root, CommandFn& run);
void add_eval_command(CLI::App& root, CommandFn& run);
void add_plugins_command(CLI::App& root, CommandFn& run);
void add_quantize_command(CLI::App& root, CommandFn& run);
void add_synth_command(CLI::App& root, CommandFn& run);
void add_bench_command(CLI::App& root, CommandFn& run);
void add_test_backend_command(CLI::App& root, CommandFn& run);
void add_perplexity_command(CLI::App& root, CommandFn& run);
void add_chat_command(CLI::App& root, CommandFn& run);
void add_embedding_command(CLI::App& root, CommandFn& run);
void add_convert_command(CLI::App& root, CommandFn& run);

}  // namespace llamux::tools
