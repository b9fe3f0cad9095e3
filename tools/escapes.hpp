// Escape processing in prompts, reverse prompts and DRY breakers, as llama.cpp's common
// argument parser does it (on by default; --no-escape turns it off).
#pragma once

#include <string>

namespace llamux::tools {

// \n \r \t \' \" \\ and \xNN become the characters they name; any other or incomplete
// escape is kept as written. NN is read as llama.cpp reads it (strtol over exactly the next
// two characters), so its text gives the same bytes here.
std::string process_escapes(const std::string& text);

}  // namespace llamux::tools
