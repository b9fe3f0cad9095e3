#include "text_file.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "llamux/error.hpp"

namespace llamux::tools {

std::string read_text_file(const std::string& path) {
    if (!std::filesystem::is_regular_file(path)) throw Error("-f: file not found: " + path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("-f: cannot open " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace llamux::tools
