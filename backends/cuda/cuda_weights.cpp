// Weights on the GPU: uploaded once by prepare_weight. Q4_0, Q8_0, Q4_K, Q5_K and Q6_K stay
// quantized (the file's blocks, byte for byte; Q4_0, Q8_0, Q4_K and Q6_K rows split into
// bodies and scales with LLAMUX_CUDA_SPLIT_BLOCKS=1, cuda_stored_types.hpp), F32 and F16
// stay as they are; the other types (BF16, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K) are dequantized on
// the host with the reference routines and kept as F16, which every kernel and cuBLAS can
// read.
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "cuda_backend.hpp"
#include "cuda_stored_types.hpp"
#include "llamux/dtype.hpp"
#include "llamux/plugin_support.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::cuda {
namespace {

constexpr size_t kConvertChunkBytes = size_t{16} << 20;  // rows converted per upload

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

// Uploads `rows` rows of row_stored bytes to dev, each written by convert(r, out) on the
// host, a chunk of rows at a time through the staging buffer.
lmx_status upload_converted(CudaBackend& b, void* dev, int64_t rows, size_t row_stored,
                            const std::function<void(int64_t, uint8_t*)>& convert, std::string* why) {
    const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(kConvertChunkBytes / row_stored));
    std::vector<uint8_t> chunk(static_cast<size_t>(std::min(chunk_rows, rows)) * row_stored);
    lmx_status s = LMX_OK;
    for (int64_t r0 = 0; r0 < rows && s == LMX_OK; r0 += chunk_rows) {
        const int64_t n = std::min(chunk_rows, rows - r0);
        for (int64_t r = 0; r < n; ++r) convert(r0 + r, chunk.data() + static_cast<size_t>(r) * row_stored);
        s = stage_write(b, static_cast<char*>(dev) + static_cast<size_t>(r0) * row_stored, chunk.data(),
                        static_cast<size_t>(n) * row_stored, why);
    }
    return s;
}

}  // namespace

int32_t stored_type(int32_t dtype, bool split_blocks) {
    switch (dtype) {
        case LMX_TYPE_Q4_0:
            return split_blocks ? kStoredQ4_0Split : dtype;
        case LMX_TYPE_Q8_0:
            return split_blocks ? kStoredQ8_0Split : dtype;
        case LMX_TYPE_Q4_K:
            return split_blocks ? kStoredQ4_KSplit : dtype;
        case LMX_TYPE_Q5_K:
            return split_blocks ? kStoredQ5_KSplit : dtype;
        case LMX_TYPE_Q6_K:
            return split_blocks ? kStoredQ6_KSplit : dtype;
        case LMX_TYPE_F32:
        case LMX_TYPE_F16:
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
    const int32_t stored = stored_type(w.dtype, b.settings.split_blocks);
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
    const bool split = is_split_type(stored);
    const size_t row_stored = stored == w.dtype ? *file_row
                              : split           ? split_row_bytes(stored, w.ne[0] / info->block_size)
                                                : static_cast<size_t>(w.ne[0]) * 2;
    const size_t bytes = row_stored * static_cast<size_t>(rows);
    const std::string label = "weight " + name + " (" + std::string(info->name) + " " + shape_text(w) +
                              (stored == w.dtype ? "" : split ? ", blocks split" : ", kept as f16") + ")";

    auto extra = std::make_unique<DeviceWeight>();
    extra->stored_dtype = stored;
    extra->row_bytes = row_stored;
    extra->n_rows = rows;
    extra->bytes = bytes;
    void* dev = nullptr;
    lmx_status s = device_alloc(b, bytes, label, &dev, why);
    if (s != LMX_OK) return s;
    const auto* src = static_cast<const uint8_t*>(host_data);
    if (stored == w.dtype) {
        s = stage_write(b, dev, host_data, bytes, why);
    } else if (split) {
        const int64_t n_blocks = w.ne[0] / info->block_size;
        s = upload_converted(b, dev, rows, row_stored, [&](int64_t r, uint8_t* out) {
            split_row(stored, src + static_cast<size_t>(r) * *file_row, n_blocks, out);
        }, why);
    } else {
        // Dequantize on the host (reference routines), round to f16.
        std::vector<float> values(static_cast<size_t>(w.ne[0]));
        std::vector<f16_bits> half(values.size());
        s = upload_converted(b, dev, rows, row_stored, [&](int64_t r, uint8_t* out) {
            dequantize_row_ref(info->type, src + static_cast<size_t>(r) * *file_row, values.data(), w.ne[0]);
            for (size_t i = 0; i < values.size(); ++i) half[i] = f32_to_f16(values[i]);
            std::memcpy(out, half.data(), row_stored);
        }, why);
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
