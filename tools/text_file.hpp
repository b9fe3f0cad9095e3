// Reading the text a subcommand's -f FILE names (a prompt, a text to tokenize or score).
#pragma once

#include <string>

namespace llamux::tools {

// The whole file as bytes; Error naming -f and the path when it is missing or unreadable.
std::string read_text_file(const std::string& path);

}  // namespace llamux::tools
