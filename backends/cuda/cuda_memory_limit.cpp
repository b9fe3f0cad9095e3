#include "cuda_memory_limit.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace llamux::cuda {

bool parse_memory_limit_mib(const char* value, size_t* bytes, std::string* why) {
    *bytes = 0;
    if (!value || !*value) return true;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(value, &end, 10);
    const bool digits_only = *value >= '0' && *value <= '9' && *end == '\0';
    if (!digits_only || errno == ERANGE || n == 0 || n > (SIZE_MAX >> 20)) {
        *why = "LLAMUX_CUDA_MEMORY_LIMIT_MIB: expected a whole number of MiB from 1 to " +
               std::to_string(SIZE_MAX >> 20) + ", got '" + value + "'";
        return false;
    }
    *bytes = static_cast<size_t>(n) << 20;
    return true;
}

bool read_memory_limit(size_t* bytes, std::string* why) {
    return parse_memory_limit_mib(std::getenv("LLAMUX_CUDA_MEMORY_LIMIT_MIB"), bytes, why);
}

}  // namespace llamux::cuda
