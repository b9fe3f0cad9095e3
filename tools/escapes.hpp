// Escape processing for prompts given with -e, as llama.cpp main does it.
#pragma once

#include <string>

namespace llamux::tools {

// \n \t \r \a \b \f \v \\ \' \" \? and \xNN become the characters they name; an unknown or
// incomplete escape is kept as written.
std::string process_escapes(const std::string& text);

}  // namespace llamux::tools
