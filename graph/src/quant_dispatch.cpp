// The DType switches of quant_ref.hpp: check the row length, cast the row to its block
// type and call the per-format routine of quant_ref_detail.hpp.
#include <cstring>
#include <string>

#include "llamux/error.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/quant_ref_detail.hpp"

namespace llamux {
namespace {

// Number of blocks of a row of n elements of type t; throws if n is not a whole number of
// blocks.
int64_t blocks_of(const char* what, DType t, int64_t n) {
    const int64_t bs = info(t).block_size;
    if (n < 0 || n % bs != 0) {
        throw Error(std::string(what) + ": row of " + std::to_string(n) + " elements is not a " +
                    "multiple of the " + std::string(dtype_name(t)) + " block size " +
                    std::to_string(bs));
    }
    return n / bs;
}

[[noreturn]] void unsupported(const char* what, DType t) {
    throw Error(std::string(what) + ": type " + std::string(dtype_name(t)) +
                " is not supported");
}

template <typename Block>
const Block* as(const void* p) {
    return static_cast<const Block*>(p);
}
template <typename Block>
Block* as(void* p) {
    return static_cast<Block*>(p);
}

}  // namespace

void dequantize_row_ref(DType t, const void* src, float* x, int64_t n) {
    const int64_t nb = blocks_of("dequantize_row_ref", t, n);
    switch (t) {
        case DType::F32:
            std::memcpy(x, src, static_cast<size_t>(n) * sizeof(float));
            return;
        case DType::F16: {
            const auto* h = as<f16_bits>(src);
            for (int64_t i = 0; i < n; ++i) x[i] = f16_to_f32(h[i]);
            return;
        }
        case DType::BF16: {
            const auto* h = as<bf16_bits>(src);
            for (int64_t i = 0; i < n; ++i) x[i] = bf16_to_f32(h[i]);
            return;
        }
        case DType::Q4_0: return q4_0_dequantize_ref(as<BlockQ4_0>(src), x, nb);
        case DType::Q4_1: return q4_1_dequantize_ref(as<BlockQ4_1>(src), x, nb);
        case DType::Q5_0: return q5_0_dequantize_ref(as<BlockQ5_0>(src), x, nb);
        case DType::Q5_1: return q5_1_dequantize_ref(as<BlockQ5_1>(src), x, nb);
        case DType::Q8_0: return q8_0_dequantize_ref(as<BlockQ8_0>(src), x, nb);
        case DType::Q8_1: return q8_1_dequantize_ref(as<BlockQ8_1>(src), x, nb);
        case DType::Q2_K: return q2_k_dequantize_ref(as<BlockQ2_K>(src), x, nb);
        case DType::Q3_K: return q3_k_dequantize_ref(as<BlockQ3_K>(src), x, nb);
        case DType::Q4_K: return q4_k_dequantize_ref(as<BlockQ4_K>(src), x, nb);
        case DType::Q5_K: return q5_k_dequantize_ref(as<BlockQ5_K>(src), x, nb);
        case DType::Q6_K: return q6_k_dequantize_ref(as<BlockQ6_K>(src), x, nb);
        case DType::Q8_K: return q8_k_dequantize_ref(as<BlockQ8_K>(src), x, nb);
        default: unsupported("dequantize_row_ref", t);
    }
}

void quantize_row_ref(DType t, const float* x, void* dst, int64_t n) {
    const int64_t nb = blocks_of("quantize_row_ref", t, n);
    switch (t) {
        case DType::F32:
            std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
            return;
        case DType::F16: {
            auto* h = as<f16_bits>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(x[i]);
            return;
        }
        case DType::BF16: {
            auto* h = as<bf16_bits>(dst);
            for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(x[i]);
            return;
        }
        case DType::Q4_0: return q4_0_quantize_ref(x, as<BlockQ4_0>(dst), nb);
        case DType::Q4_1: return q4_1_quantize_ref(x, as<BlockQ4_1>(dst), nb);
        case DType::Q5_0: return q5_0_quantize_ref(x, as<BlockQ5_0>(dst), nb);
        case DType::Q5_1: return q5_1_quantize_ref(x, as<BlockQ5_1>(dst), nb);
        case DType::Q8_0: return q8_0_quantize_ref(x, as<BlockQ8_0>(dst), nb);
        case DType::Q8_1: return q8_1_quantize_ref(x, as<BlockQ8_1>(dst), nb);
        case DType::Q2_K: return q2_k_quantize_ref(x, as<BlockQ2_K>(dst), nb);
        case DType::Q3_K: return q3_k_quantize_ref(x, as<BlockQ3_K>(dst), nb);
        case DType::Q4_K: return q4_k_quantize_ref(x, as<BlockQ4_K>(dst), nb);
        case DType::Q5_K: return q5_k_quantize_ref(x, as<BlockQ5_K>(dst), nb);
        case DType::Q6_K: return q6_k_quantize_ref(x, as<BlockQ6_K>(dst), nb);
        case DType::Q8_K: return q8_k_quantize_ref(x, as<BlockQ8_K>(dst), nb);
        default: unsupported("quantize_row_ref", t);
    }
}

void quantize_activation_row_ref(DType t, const float* x, void* dst, int64_t n) {
    if (t == DType::Q8_0) {
        const int64_t nb = blocks_of("quantize_activation_row_ref", t, n);
        return q8_0_quantize_activation_ref(x, as<BlockQ8_0>(dst), nb);
    }
    quantize_row_ref(t, x, dst, n);
}

float vec_dot_ref(DType t, int64_t n, const void* w, const void* a) {
    const int64_t nb = blocks_of("vec_dot_ref", t, n);
    // vec_dot_type(t) is Q8_0 for the legacy types and Q8_K for the K-quants; both have the
    // same block length as the weight type, so block i of w pairs with block i of a.
    switch (t) {
        case DType::F32: return f32_dot_ref(as<float>(w), as<float>(a), n);
        case DType::F16: return f16_dot_ref(as<f16_bits>(w), as<f16_bits>(a), n);
        case DType::BF16: return bf16_dot_ref(as<bf16_bits>(w), as<bf16_bits>(a), n);
        case DType::Q4_0: return q4_0_dot_ref(as<BlockQ4_0>(w), as<BlockQ8_0>(a), nb);
        case DType::Q4_1: return q4_1_dot_ref(as<BlockQ4_1>(w), as<BlockQ8_0>(a), nb);
        case DType::Q5_0: return q5_0_dot_ref(as<BlockQ5_0>(w), as<BlockQ8_0>(a), nb);
        case DType::Q5_1: return q5_1_dot_ref(as<BlockQ5_1>(w), as<BlockQ8_0>(a), nb);
        case DType::Q8_0: return q8_0_dot_ref(as<BlockQ8_0>(w), as<BlockQ8_0>(a), nb);
        case DType::Q2_K: return q2_k_dot_ref(as<BlockQ2_K>(w), as<BlockQ8_K>(a), nb);
        case DType::Q3_K: return q3_k_dot_ref(as<BlockQ3_K>(w), as<BlockQ8_K>(a), nb);
        case DType::Q4_K: return q4_k_dot_ref(as<BlockQ4_K>(w), as<BlockQ8_K>(a), nb);
        case DType::Q5_K: return q5_k_dot_ref(as<BlockQ5_K>(w), as<BlockQ8_K>(a), nb);
        case DType::Q6_K: return q6_k_dot_ref(as<BlockQ6_K>(w), as<BlockQ8_K>(a), nb);
        default: unsupported("vec_dot_ref", t);
    }
}

}  // namespace llamux
