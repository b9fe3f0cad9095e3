#include "llamux/dtype.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <string>

#include "llamux/quant_blocks.hpp"

namespace llamux {
namespace {

constexpr std::array kTypes = {
    DTypeInfo{DType::F32, "f32", 1, 4, false},
    DTypeInfo{DType::F16, "f16", 1, 2, false},
    DTypeInfo{DType::Q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), true},
    DTypeInfo{DType::Q4_1, "q4_1", kQK4_1, sizeof(BlockQ4_1), true},
    DTypeInfo{DType::Q5_0, "q5_0", kQK5_0, sizeof(BlockQ5_0), true},
    DTypeInfo{DType::Q5_1, "q5_1", kQK5_1, sizeof(BlockQ5_1), true},
    DTypeInfo{DType::Q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), true},
    DTypeInfo{DType::Q8_1, "q8_1", kQK8_1, sizeof(BlockQ8_1), true},
    DTypeInfo{DType::Q2_K, "q2_K", kQK_K, sizeof(BlockQ2_K), true},
    DTypeInfo{DType::Q3_K, "q3_K", kQK_K, sizeof(BlockQ3_K), true},
    DTypeInfo{DType::Q4_K, "q4_K", kQK_K, sizeof(BlockQ4_K), true},
    DTypeInfo{DType::Q5_K, "q5_K", kQK_K, sizeof(BlockQ5_K), true},
    DTypeInfo{DType::Q6_K, "q6_K", kQK_K, sizeof(BlockQ6_K), true},
    DTypeInfo{DType::Q8_K, "q8_K", kQK_K, sizeof(BlockQ8_K), true},
    DTypeInfo{DType::I8, "i8", 1, 1, false},
    DTypeInfo{DType::I16, "i16", 1, 2, false},
    DTypeInfo{DType::I32, "i32", 1, 4, false},
    DTypeInfo{DType::I64, "i64", 1, 8, false},
    DTypeInfo{DType::F64, "f64", 1, 8, false},
    DTypeInfo{DType::BF16, "bf16", 1, 2, false},
};

}  // namespace

std::optional<DTypeInfo> dtype_info(int32_t id) {
    for (const auto& t : kTypes) {
        if (static_cast<int32_t>(t.type) == id) return t;
    }
    return std::nullopt;
}

const DTypeInfo& info(DType t) {
    for (const auto& entry : kTypes) {
        if (entry.type == t) return entry;
    }
    assert(false && "unknown DType");
    return kTypes[0];
}

std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        std::transform(out.begin(), out.end(), out.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return out;
    };
    const std::string wanted = lower(name);
    for (const auto& t : kTypes) {
        if (lower(t.name) == wanted) return t.type;
    }
    return std::nullopt;
}

std::optional<size_t> row_bytes(DType t, int64_t n) {
    const auto& i = info(t);
    if (n < 0 || n % i.block_size != 0) return std::nullopt;
    return static_cast<size_t>(n / i.block_size) * i.type_size;
}

DType vec_dot_type(DType weight) {
    switch (weight) {
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
            return DType::Q8_0;
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
            return DType::Q8_K;
        case DType::F16:
            return DType::F16;
        case DType::BF16:
            return DType::BF16;
        default:
            return DType::F32;
    }
}

}  // namespace llamux
