// The one exception type of llamux library code. Messages name the object (file, tensor,
// flag), what was expected and what was found. Library code throws; tools/ decides to exit.
#pragma once

#include <stdexcept>
#include <string>

namespace llamux {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace llamux
