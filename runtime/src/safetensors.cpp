// Safetensors reader (see safetensors.hpp).
#include "safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "llamux/error.hpp"
#include "mapped_file.hpp"

namespace llamux {
namespace {

// Bytes per element of every safetensors dtype; 0 for a name this reader does not know.
size_t element_size(const std::string& dtype) {
    static const std::pair<const char*, size_t> sizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},   {"BOOL", 1},
        {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (const auto& [name, size] : sizes) {
        if (dtype == name) return size;
    }
    return 0;
}

std::optional<DType> supported_dtype(const std::string& dtype) {
    if (dtype == "F32") return DType::F32;
    if (dtype == "F16") return DType::F16;
    if (dtype == "BF16") return DType::BF16;
    return std::nullopt;
}

}  // namespace

struct SafetensorsFile::Impl {
    std::string path;
    MappedFile file;
    std::vector<SafetensorsTensor> tensors;

    [[noreturn]] void fail(const std::string& what) const { throw Error(path + ": " + what); }
    void parse();
    SafetensorsTensor parse_entry(const std::string& name, const nlohmann::json& entry,
                                  const uint8_t* data, uint64_t data_size) const;
};

SafetensorsTensor SafetensorsFile::Impl::parse_entry(const std::string& name,
                                                     const nlohmann::json& entry,
                                                     const uint8_t* data,
                                                     uint64_t data_size) const {
    const std::string where = "tensor " + name + ": ";
    if (!entry.is_object()) fail(where + "expected an object in the header");
    const auto dtype = entry.find("dtype");
    const auto shape = entry.find("shape");
    const auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) fail(where + "missing dtype string");
    if (shape == entry.end() || !shape->is_array()) fail(where + "missing shape array");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
        fail(where + "expected data_offsets [begin, end]");
    }
    SafetensorsTensor t;
    t.name = name;
    t.dtype_name = dtype->get<std::string>();
    t.dtype = supported_dtype(t.dtype_name);
    uint64_t n_elements = 1;
    for (const auto& d : *shape) {
        if (!d.is_number_unsigned()) fail(where + "shape: expected non-negative integers");
        const uint64_t v = d.get<uint64_t>();
        if (v > (uint64_t{1} << 40) || (v > 0 && n_elements > (uint64_t{1} << 48) / v)) {
            fail(where + "shape: dimension " + std::to_string(v) + " too large");
        }
        n_elements *= v;
        t.shape.push_back(static_cast<int64_t>(v));
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>();
    const uint64_t end = (*offsets)[1].get<uint64_t>();
    if (begin > end) {
        fail(where + "data_offsets: begin " + std::to_string(begin) + " after end " +
             std::to_string(end));
    }
    if (end > data_size) {
        fail(where + "data ends at byte " + std::to_string(end) + " of the data section, but " +
             "the file holds only " + std::to_string(data_size) + " data bytes (truncated?)");
    }
    if (const size_t es = element_size(t.dtype_name); es != 0 && end - begin != n_elements * es) {
        fail(where + "expected " + std::to_string(n_elements * es) + " bytes for " +
             t.dtype_name + " of " + std::to_string(n_elements) + " elements, data_offsets span " +
             std::to_string(end - begin));
    }
    t.data = data + begin;
    t.n_bytes = static_cast<size_t>(end - begin);
    return t;
}

void SafetensorsFile::Impl::parse() {
    const uint64_t map_size = file.size();
    if (map_size < 8) {
        fail("expected at least 8 bytes (the header length), file has " +
             std::to_string(map_size));
    }
    const uint8_t* base = file.data();
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
    if (header_len > map_size - 8) {
        fail("header of " + std::to_string(header_len) + " bytes, but only " +
             std::to_string(map_size - 8) + " bytes follow the length (truncated?)");
    }
    const char* header = reinterpret_cast<const char*>(base + 8);
    const nlohmann::json json =
        nlohmann::json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
        fail("header (" + std::to_string(header_len) + " bytes): not valid JSON");
    }
    if (!json.is_object()) fail("header: expected a JSON object of tensors");
    const uint8_t* data = base + 8 + header_len;
    const uint64_t data_size = map_size - 8 - header_len;
    for (const auto& [name, entry] : json.items()) {
        if (name == "__metadata__") continue;
        tensors.push_back(parse_entry(name, entry, data, data_size));
    }
    std::sort(tensors.begin(), tensors.end(),
              [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.name < b.name; });
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->file = MappedFile::open(path);
    impl->parse();
    return SafetensorsFile(std::move(impl));
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

const std::string& SafetensorsFile::path() const { return impl_->path; }
const std::vector<SafetensorsTensor>& SafetensorsFile::tensors() const { return impl_->tensors; }

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
    const auto& ts = impl_->tensors;
    const auto it = std::lower_bound(
        ts.begin(), ts.end(), name,
        [](const SafetensorsTensor& t, const std::string& n) { return t.name < n; });
    return it != ts.end() && it->name == name ? &*it : nullptr;
}

}  // namespace llamux
