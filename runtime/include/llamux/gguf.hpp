// GGUF reader: validates a GGUF v2/v3 file and exposes its metadata and tensors.
// Tensor data is mmapped read-only (or read once into read-only memory, LoadOptions) and
// never copied after; pointers stay valid while the GgufFile lives. Every validation
// failure throws llamux::Error naming the file, the field, the expected and the found value.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/load_options.hpp"

namespace llamux {

enum class GgufType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view gguf_type_name(GgufType t);

struct GgufArray;

// One metadata value. Arrays hold their element type and values (arrays may nest).
struct GgufValue {
    GgufType type = GgufType::UINT8;
    std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> value;

    std::optional<int64_t> as_int() const;   // any integer type (uint64 above INT64_MAX: nullopt)
    std::optional<double> as_float() const;  // float or integer types
    const std::string* as_string() const;
    const GgufArray* as_array() const;
    std::string to_display(size_t max_array_items = 8) const;  // arrays summarised
};

struct GgufArray {
    GgufType elem_type = GgufType::UINT8;
    std::vector<GgufValue> items;
};

struct GgufTensorInfo {
    std::string name;
    DType dtype = DType::F32;
    uint32_t n_dims = 0;
    std::array<int64_t, 4> ne{1, 1, 1, 1};  // ggml order: ne[0] is the row length
    uint64_t offset = 0;                     // from the start of the data section
    size_t n_bytes = 0;
    const void* data = nullptr;              // into the mapping
};

class GgufFile {
public:
    // Opens, maps (or reads, per `options`: see load_options.hpp) and validates. Throws
    // Error on any problem; a refused mlock only warns. A moved-from GgufFile may only be
    // destroyed or assigned to.
    static GgufFile open(const std::string& path, const LoadOptions& options = {});

    GgufFile(GgufFile&&) noexcept;
    GgufFile& operator=(GgufFile&&) noexcept;
    ~GgufFile();

    const std::string& path() const;
    uint32_t version() const;
    uint64_t alignment() const;     // general.alignment, default 32
    uint64_t data_offset() const;   // start of the tensor data section (header end rounded up
                                    // to the alignment; past file_size() in a file that ends
                                    // right after a header without tensors)
    uint64_t file_size() const;

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const;
    const GgufValue* find(const std::string& key) const;
    // Typed getters: nullopt when absent; Error when present with an unusable type/value.
    std::optional<std::string> get_string(const std::string& key) const;
    std::optional<int64_t> get_int(const std::string& key) const;
    std::optional<double> get_float(const std::string& key) const;
    std::optional<bool> get_bool(const std::string& key) const;
    // Arrays: nullptr when absent; Error when the key holds another type.
    const GgufArray* get_array(const std::string& key, GgufType elem_type) const;

    const std::vector<GgufTensorInfo>& tensors() const;
    const GgufTensorInfo* find_tensor(const std::string& name) const;

private:
    struct Impl;
    explicit GgufFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace llamux
