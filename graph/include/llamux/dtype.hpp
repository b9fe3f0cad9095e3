// Element types and their storage geometry: block length and bytes per block.
// The numeric ids are the GGUF/GGML type ids (see lmx_dtype in backend_abi.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "llamux/backend_abi.h"

namespace llamux {

enum class DType : int32_t {
    F32 = LMX_TYPE_F32,
    F16 = LMX_TYPE_F16,
    Q4_0 = LMX_TYPE_Q4_0,
    Q4_1 = LMX_TYPE_Q4_1,
    Q5_0 = LMX_TYPE_Q5_0,
    Q5_1 = LMX_TYPE_Q5_1,
    Q8_0 = LMX_TYPE_Q8_0,
    Q8_1 = LMX_TYPE_Q8_1,
    Q2_K = LMX_TYPE_Q2_K,
    Q3_K = LMX_TYPE_Q3_K,
    Q4_K = LMX_TYPE_Q4_K,
    Q5_K = LMX_TYPE_Q5_K,
    Q6_K = LMX_TYPE_Q6_K,
    Q8_K = LMX_TYPE_Q8_K,
    I8 = LMX_TYPE_I8,
    I16 = LMX_TYPE_I16,
    I32 = LMX_TYPE_I32,
    I64 = LMX_TYPE_I64,
    F64 = LMX_TYPE_F64,
    BF16 = LMX_TYPE_BF16,
};

struct DTypeInfo {
    DType type;
    std::string_view name;  // as llama.cpp prints it: "f32", "q4_0", "q6_K"
    int64_t block_size;     // elements per block (1 for plain types)
    size_t type_size;       // bytes per block
    bool quantized;
};

// Geometry of a known type; nullopt for an id this build does not know.
std::optional<DTypeInfo> dtype_info(int32_t id);
// Same, for a type known to be valid (asserts in debug builds).
const DTypeInfo& info(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive

// Bytes of a row of n elements; nullopt if n is not a multiple of the block size.
std::optional<size_t> row_bytes(DType t, int64_t n);

// The activation type a weight type's integer dot product consumes (llama.cpp's
// vec_dot_type): Q8_0 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, Q8_K for the K-quants, F16 for F16,
// BF16 for BF16, F32 for F32.
DType vec_dot_type(DType weight);

}  // namespace llamux
