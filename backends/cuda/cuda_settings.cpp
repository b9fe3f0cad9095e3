#include "cuda_settings.hpp"

#include <cerrno>
#include <cstdlib>

namespace llamux::cuda {
namespace {

// A whole number from lo to hi written in decimal digits only (no sign, no spaces).
bool parse_whole(const char* value, unsigned long long lo, unsigned long long hi, unsigned long long* n) {
    if (*value < '0' || *value > '9') return false;
    char* end = nullptr;
    errno = 0;
    *n = std::strtoull(value, &end, 10);
    return *end == '\0' && errno != ERANGE && *n >= lo && *n <= hi;
}

// Reads one knob: unset or empty keeps *field's default; a value `parse` accepts replaces
// it; anything else is refused with "NAME: expected <expected>, got 'VALUE'".
template <typename T, typename Parse>
bool read_knob(const EnvLookup& env, const char* name, const std::string& expected, Parse parse, T* field,
               std::string* why) {
    const char* value = env(name);
    if (!value || !*value) return true;
    if (parse(value, field)) return true;
    *why = std::string(name) + ": expected " + expected + ", got '" + value + "'";
    return false;
}

bool parse_switch(const char* value, bool* on) {
    if ((value[0] != '0' && value[0] != '1') || value[1] != '\0') return false;
    *on = value[0] == '1';
    return true;
}

bool parse_memory_limit(const char* value, size_t* bytes) {
    unsigned long long mib = 0;
    if (!parse_whole(value, 1, SIZE_MAX >> 20, &mib)) return false;
    *bytes = static_cast<size_t>(mib) << 20;
    return true;
}

const std::string kMemoryLimitExpected = "a whole number of MiB from 1 to " + std::to_string(SIZE_MAX >> 20);

}  // namespace

bool read_settings(const EnvLookup& env, Settings* out, std::string* why) {
    *out = Settings{};
    auto fusion = [](const char* v, int* level) {
        unsigned long long n = 0;
        if (!parse_whole(v, 0, 6, &n)) return false;
        *level = static_cast<int>(n);
        return true;
    };
    auto rows = [](const char* v, int64_t* from) {
        unsigned long long n = 0;
        if (!parse_whole(v, 0, INT64_MAX, &n)) return false;
        *from = static_cast<int64_t>(n);
        return true;
    };
    const std::string rows_expected = "a whole number of cache rows from 0 to " + std::to_string(INT64_MAX);
    return read_knob(env, "LLAMUX_CUDA_MEMORY_LIMIT_MIB", kMemoryLimitExpected, parse_memory_limit,
                     &out->memory_limit, why) &&
           read_knob(env, "LLAMUX_CUDA_FUSE", "a fusion level from 0 to 6", fusion, &out->fusion_level, why) &&
           read_knob(env, "LLAMUX_CUDA_SPLIT_ATTENTION_FROM", rows_expected, rows, &out->split_attention_from,
                     why) &&
           read_knob(env, "LLAMUX_CUDA_GRAPHS", "0 or 1", parse_switch, &out->graphs, why) &&
           read_knob(env, "LLAMUX_CUDA_PDL", "0 or 1", parse_switch, &out->pdl, why) &&
           read_knob(env, "LLAMUX_CUDA_EARLY_WEIGHTS", "0 or 1", parse_switch, &out->early_weights, why) &&
           read_knob(env, "LLAMUX_CUDA_WEIGHTS_FIRST", "0 or 1", parse_switch, &out->weights_first, why) &&
           read_knob(env, "LLAMUX_CUDA_SPLIT_BLOCKS", "0 or 1", parse_switch, &out->split_blocks, why) &&
           read_knob(env, "LLAMUX_CUDA_PROFILE", "0 or 1", parse_switch, &out->profile, why);
}

bool read_settings(Settings* out, std::string* why) {
    return read_settings([](const char* name) { return std::getenv(name); }, out, why);
}

size_t memory_limit_from_env() {
    size_t bytes = 0;
    const char* value = std::getenv("LLAMUX_CUDA_MEMORY_LIMIT_MIB");
    return value && parse_memory_limit(value, &bytes) ? bytes : 0;
}

}  // namespace llamux::cuda
