// Weights on the GPU: uploaded once by prepare_weight. Q4_0, Q8_0, Q4_K, Q5_K and Q6_K stay
// quantized (the file's blocks, byte for byte), F32 and F16 stay as they are; the other
// types (BF16, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K) are dequantized on the host with the reference
// routines and kept as F16, which every kernel and cuBLAS can read.
#include <algorithm>
#include <memory>
#include <vector>

#include "cuda_backend.hpp"
#include "llamux/dtype.hpp"
#include "llamux/plugin_support.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::cuda {
namespace {

constexpr size_t kExpandChunkBytes = size_t{16} << 20;  // f16 rows converted per upload

std::string shape_text(const lmx_tensor& t) {
    std::string s = std::to_string(t.ne[0]);
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1) s += "x" + std::to_string(t.ne[k]);
    }
    return s;
}

// Rows back to back, as a GGUF file stores every tensor.
bool rows_contiguous(const lmx_tensor& t, size_t row) {
    size_t expected = row;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1 && t.nb[k] != expected) return false;
        expected *= static_cast<size_t>(t.ne[k]);
    }
    return true;
}

}  // namespace

int32_t stored_type(int32_t dtype) {
    switch (dtype) {
        case LMX_TYPE_F32:
        case LMX_TYPE_F16:
        case LMX_TYPE_Q4_0:
        case LMX_TYPE_Q8_0:
        case LMX_TYPE_Q4_K:
        case LMX_TYPE_Q5_K:
        case LMX_TYPE_Q6_K:
            return dtype;
        case LMX_TYPE_BF16:
        case LMX_TYPE_Q4_1:
        case LMX_TYPE_Q5_0:
        case LMX_TYPE_Q5_1:
        case LMX_TYPE_Q2_K:
        case LMX_TYPE_Q3_K:
            return LMX_TYPE_F16;
        default:
            return -1;
    }
}

lmx_status prepare_weight(CudaBackend& b, lmx_tensor& w, const void* host_data, std::string* why) {
    const std::string name = w.name && w.name[0] ? w.name : "(unnamed)";
    const auto info = dtype_info(w.dtype);
    const int32_t stored = stored_type(w.dtype);
    if (!info || stored < 0) {
        *why = "weight " + name + ": dtype " + (info ? std::string(info->name) : std::to_string(w.dtype)) +
               " cannot be held on the GPU (expected f32, f16, bf16 or a quantized weight type)";
        return LMX_ERR_UNSUPPORTED;
    }
    const auto file_row = row_bytes(info->type, w.ne[0]);
    if (!file_row || !rows_contiguous(w, *file_row)) {
        *why = "weight " + name + ": expected contiguous " + std::string(info->name) + " rows of " +
               std::to_string(w.ne[0]) + " elements, got nb[1] = " + std::to_string(w.nb[1]);
        return LMX_ERR_INVALID;
    }
    const int64_t rows = w.ne[1] * w.ne[2] * w.ne[3];
    const size_t row_stored = stored == w.dtype ? *file_row : static_cast<size_t>(w.ne[0]) * 2;
    const size_t bytes = row_stored * static_cast<size_t>(rows);
    const std::string label = "weight " + name + " (" + std::string(info->name) + " " + shape_text(w) +
                              (stored == w.dtype ? "" : ", kept as f16") + ")";

    auto extra = std::make_unique<DeviceWeight>();
    extra->stored_dtype = stored;
    extra->row_bytes = row_stored;
    extra->n_rows = rows;
    extra->bytes = bytes;
    void* dev = nullptr;
    lmx_status s = device_alloc(b, bytes, label, &dev, why);
    if (s != LMX_OK) return s;
    if (stored == w.dtype) {
        s = stage_write(b, dev, host_data, bytes, why);
    } else {
        // Dequantize on the host (reference routines), round to f16, upload chunk by chunk.
        const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(kExpandChunkBytes / row_stored));
        std::vector<float> row(static_cast<size_t>(w.ne[0]));
        std::vector<f16_bits> half(static_cast<size_t>(std::min(chunk_rows, rows) * w.ne[0]));
        const auto* src = static_cast<const char*>(host_data);
        for (int64_t r0 = 0; r0 < rows && s == LMX_OK; r0 += chunk_rows) {
            const int64_t n = std::min(chunk_rows, rows - r0);
            for (int64_t r = 0; r < n; ++r) {
                dequantize_row_ref(info->type, src + static_cast<size_t>(r0 + r) * *file_row, row.data(), w.ne[0]);
                f16_bits* out = half.data() + r * w.ne[0];
                for (int64_t i = 0; i < w.ne[0]; ++i) out[i] = f32_to_f16(row[static_cast<size_t>(i)]);
            }
            s = stage_write(b, static_cast<char*>(dev) + static_cast<size_t>(r0) * row_stored, half.data(),
                            static_cast<size_t>(n) * row_stored, why);
        }
        if (s == LMX_OK) {
            plugin::log(b.config, 1, "cuda: " + label + ": " + std::to_string(bytes) + " bytes");
        }
    }
    if (s == LMX_OK) s = sync_stream(b, why);  // the upload is complete before the mapping may go
    if (s != LMX_OK) {
        cudaFree(dev);
        if (why->rfind("weight ", 0) != 0) *why = label + ": " + *why;
        return s;
    }
    w.data = dev;
    w.extra = extra.release();
    return LMX_OK;
}

void release_weight(CudaBackend&, lmx_tensor& w) {
    if (w.data) cudaFree(w.data);  // waits for work that may still read it
    delete static_cast<DeviceWeight*>(w.extra);
    w.data = nullptr;
    w.extra = nullptr;
}

}  // namespace llamux::cuda
