#include "commands.hpp"

namespace llamux::tools {

// Placeholder until the subcommand lands.
void add_info_command(CLI::App& root, CommandFn& run) {
    auto* cmd = root.add_subcommand("info", "(not yet implemented)");
    cmd->callback([&run] { run = [] { return 2; }; });
}

}  // namespace llamux::tools
