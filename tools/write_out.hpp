// Streamed text on stdout: each piece written and flushed at once, so a reader (a terminal,
// a pipe) sees the tokens as they come.
#pragma once

#include <string>

namespace llamux::tools {

void write_out(const std::string& text);

}  // namespace llamux::tools
