// llama.cpp's command lines, made into llamux's. main calls this on the arguments before
// CLI11 parses them, so that a llama.cpp command pasted after `llamux run` either works or
// fails with a message that names the flag and says why:
// - llama.cpp's multi-letter short flags ("-ngl 99", "-no-cnv", "-fa") become their long
//   names (CLI11 would read a single-dash word as one-letter flags: "-n o-cnv");
// - flags of llama.cpp features llamux does not have are refused with the reason, unless the
//   chosen subcommand defines them;
// - any other single-dash word of several letters is refused as an unknown flag.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace llamux::tools {

// `args`: the arguments after the program name. Returns them with llama.cpp's spellings
// replaced. Throws Error naming the flag for a refused or unknown one.
std::vector<std::string> translate_llama_cpp_flags(const CLI::App& app, std::vector<std::string> args);

}  // namespace llamux::tools
