#include "commands.hpp"

namespace llamux::tools {

// Placeholder until the subcommand lands.
void add_run_command(CLI::App& root, CommandFn& run) {
    auto* cmd = root.add_subcommand("run", "(not yet implemented)");
    cmd->callback([&run] { run = [] { return 2; }; });
}

}  // namespace llamux::tools
