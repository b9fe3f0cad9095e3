#include "write_out.hpp"

#include <cstdio>

namespace llamux::tools {

void write_out(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

}  // namespace llamux::tools
