// Reader of Hugging Face safetensors files: an 8-byte little-endian header length, a JSON
// header mapping each tensor name to {dtype, shape, data_offsets}, then the raw data.
// The file is mmapped read-only; tensor data pointers stay valid while the
// SafetensorsFile lives. Every validation failure (short file, bad JSON, an offset past the
// end, a byte count that does not match the shape) throws llamux::Error naming the file and
// the tensor. Internal to the runtime (used by hf_convert.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llamux/dtype.hpp"

namespace llamux {

struct SafetensorsTensor {
    std::string name;
    std::string dtype_name;          // as the header spells it: "F32", "BF16", "I64", ...
    std::optional<DType> dtype;      // F32, F16 or BF16; nullopt for any other dtype
    std::vector<int64_t> shape;      // row-major, outermost first (PyTorch order)
    const uint8_t* data = nullptr;   // into the mapping
    size_t n_bytes = 0;
};

class SafetensorsFile {
public:
    // Opens, maps and validates. Throws Error naming the path.
    static SafetensorsFile open(const std::string& path);

    SafetensorsFile(SafetensorsFile&&) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
    ~SafetensorsFile();

    const std::string& path() const;
    // Every tensor, sorted by name (the order safetensors' safe_open lists them).
    const std::vector<SafetensorsTensor>& tensors() const;
    const SafetensorsTensor* find(const std::string& name) const;

private:
    struct Impl;
    explicit SafetensorsFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace llamux
