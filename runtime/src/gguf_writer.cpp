// GgufWriter: serialises metadata and tensors as a GGUF file (see gguf.cpp for the layout).
#include "llamux/gguf_writer.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "llamux/error.hpp"

namespace llamux {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint64_t kDefaultAlignment = 32;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

[[noreturn]] void fail_key(const std::string& key, const std::string& what) {
    throw Error("gguf writer: key " + key + ": " + what);
}

// Checks that a value's variant alternative matches its type and the value fits the type.
void check_value(const std::string& key, const GgufValue& v, int depth) {
    const std::string type(gguf_type_name(v.type));
    auto check_uint = [&](uint64_t max) {
        const auto* u = std::get_if<uint64_t>(&v.value);
        if (!u) fail_key(key, type + " value must be held as uint64_t");
        if (*u > max) fail_key(key, std::to_string(*u) + " does not fit " + type);
    };
    auto check_int = [&](int64_t min, int64_t max) {
        const auto* i = std::get_if<int64_t>(&v.value);
        if (!i) fail_key(key, type + " value must be held as int64_t");
        if (*i < min || *i > max) fail_key(key, std::to_string(*i) + " does not fit " + type);
    };
    switch (v.type) {
        case GgufType::UINT8: check_uint(std::numeric_limits<uint8_t>::max()); break;
        case GgufType::UINT16: check_uint(std::numeric_limits<uint16_t>::max()); break;
        case GgufType::UINT32: check_uint(std::numeric_limits<uint32_t>::max()); break;
        case GgufType::UINT64: check_uint(std::numeric_limits<uint64_t>::max()); break;
        case GgufType::INT8: check_int(INT8_MIN, INT8_MAX); break;
        case GgufType::INT16: check_int(INT16_MIN, INT16_MAX); break;
        case GgufType::INT32: check_int(INT32_MIN, INT32_MAX); break;
        case GgufType::INT64: check_int(INT64_MIN, INT64_MAX); break;
        case GgufType::FLOAT32:
        case GgufType::FLOAT64: {
            const auto* d = std::get_if<double>(&v.value);
            if (!d) fail_key(key, type + " value must be held as double");
            if (v.type == GgufType::FLOAT32 && std::isfinite(*d) &&
                std::fabs(*d) > double(std::numeric_limits<float>::max())) {
                fail_key(key, std::to_string(*d) + " does not fit float32");
            }
            break;
        }
        case GgufType::BOOL:
            if (!std::holds_alternative<bool>(v.value)) fail_key(key, "bool value must be a bool");
            break;
        case GgufType::STRING:
            if (!std::holds_alternative<std::string>(v.value)) {
                fail_key(key, "string value must be a std::string");
            }
            break;
        case GgufType::ARRAY: {
            const GgufArray* a = v.as_array();
            if (!a) fail_key(key, "array value must be a non-null shared_ptr<GgufArray>");
            if (depth >= 8) fail_key(key, "arrays nested more than 8 deep");
            for (const GgufValue& item : a->items) {
                if (item.type != a->elem_type) {
                    fail_key(key, "array of " + std::string(gguf_type_name(a->elem_type)) +
                                      " holds an item of type " +
                                      std::string(gguf_type_name(item.type)));
                }
                check_value(key, item, depth + 1);
            }
            break;
        }
        default: fail_key(key, "unknown value type " + std::to_string(uint32_t(v.type)));
    }
}

GgufValue make_array_value(GgufArray array) {
    GgufValue v;
    v.type = GgufType::ARRAY;
    v.value = std::make_shared<GgufArray>(std::move(array));
    return v;
}

}  // namespace

// Where bytes go: a file, a vector, or nowhere (to measure the layout).
class GgufWriter::Sink {
public:
    std::FILE* file = nullptr;
    std::vector<uint8_t>* bytes = nullptr;
    std::string path;  // for errors when writing a file
    uint64_t pos = 0;

    bool wants_data() const { return file || bytes; }

    void put(const void* p, size_t n) {
        if (n == 0) return;
        if (bytes) {
            const auto* b = static_cast<const uint8_t*>(p);
            bytes->insert(bytes->end(), b, b + n);
        } else if (file) {
            if (std::fwrite(p, 1, n, file) != n) {
                throw Error(path + ": cannot write: " + std::strerror(errno));
            }
        }
        pos += n;
    }
    template <class T>
    void put_value(T v) {
        put(&v, sizeof(T));
    }
    void put_string(const std::string& s) {
        put_value<uint64_t>(s.size());
        put(s.data(), s.size());
    }
    void pad_to(uint64_t target) {
        static constexpr uint8_t kZeros[4096] = {};
        while (pos < target) {
            put(kZeros, static_cast<size_t>(std::min<uint64_t>(target - pos, sizeof(kZeros))));
        }
    }

    void put_gguf_value(const GgufValue& v) {
        switch (v.type) {
            case GgufType::UINT8: put_value(static_cast<uint8_t>(std::get<uint64_t>(v.value))); break;
            case GgufType::UINT16: put_value(static_cast<uint16_t>(std::get<uint64_t>(v.value))); break;
            case GgufType::UINT32: put_value(static_cast<uint32_t>(std::get<uint64_t>(v.value))); break;
            case GgufType::UINT64: put_value(std::get<uint64_t>(v.value)); break;
            case GgufType::INT8: put_value(static_cast<int8_t>(std::get<int64_t>(v.value))); break;
            case GgufType::INT16: put_value(static_cast<int16_t>(std::get<int64_t>(v.value))); break;
            case GgufType::INT32: put_value(static_cast<int32_t>(std::get<int64_t>(v.value))); break;
            case GgufType::INT64: put_value(std::get<int64_t>(v.value)); break;
            case GgufType::FLOAT32: put_value(static_cast<float>(std::get<double>(v.value))); break;
            case GgufType::FLOAT64: put_value(std::get<double>(v.value)); break;
            case GgufType::BOOL: put_value(static_cast<uint8_t>(std::get<bool>(v.value) ? 1 : 0)); break;
            case GgufType::STRING: put_string(std::get<std::string>(v.value)); break;
            case GgufType::ARRAY: {
                const GgufArray& a = *v.as_array();
                put_value(static_cast<uint32_t>(a.elem_type));
                put_value<uint64_t>(a.items.size());
                for (const GgufValue& item : a.items) put_gguf_value(item);
                break;
            }
        }
    }
};

void GgufWriter::set(const std::string& key, GgufValue value) {
    check_value(key, value, 0);
    for (auto& [k, v] : kvs_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    kvs_.emplace_back(key, std::move(value));
}

void GgufWriter::set_uint8(const std::string& key, uint8_t v) { set(key, {GgufType::UINT8, uint64_t{v}}); }
void GgufWriter::set_int8(const std::string& key, int8_t v) { set(key, {GgufType::INT8, int64_t{v}}); }
void GgufWriter::set_uint16(const std::string& key, uint16_t v) { set(key, {GgufType::UINT16, uint64_t{v}}); }
void GgufWriter::set_int16(const std::string& key, int16_t v) { set(key, {GgufType::INT16, int64_t{v}}); }
void GgufWriter::set_uint32(const std::string& key, uint32_t v) { set(key, {GgufType::UINT32, uint64_t{v}}); }
void GgufWriter::set_int32(const std::string& key, int32_t v) { set(key, {GgufType::INT32, int64_t{v}}); }
void GgufWriter::set_uint64(const std::string& key, uint64_t v) { set(key, {GgufType::UINT64, v}); }
void GgufWriter::set_int64(const std::string& key, int64_t v) { set(key, {GgufType::INT64, v}); }
void GgufWriter::set_float32(const std::string& key, float v) { set(key, {GgufType::FLOAT32, double{v}}); }
void GgufWriter::set_float64(const std::string& key, double v) { set(key, {GgufType::FLOAT64, v}); }
void GgufWriter::set_bool(const std::string& key, bool v) { set(key, {GgufType::BOOL, v}); }
void GgufWriter::set_string(const std::string& key, std::string v) {
    set(key, {GgufType::STRING, std::move(v)});
}
void GgufWriter::set_array(const std::string& key, GgufArray array) {
    set(key, make_array_value(std::move(array)));
}

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& items) {
    GgufArray a;
    a.elem_type = GgufType::STRING;
    a.items.reserve(items.size());
    for (const auto& s : items) a.items.push_back({GgufType::STRING, s});
    set_array(key, std::move(a));
}

void GgufWriter::set_int32_array(const std::string& key, const std::vector<int32_t>& items) {
    GgufArray a;
    a.elem_type = GgufType::INT32;
    a.items.reserve(items.size());
    for (const int32_t i : items) a.items.push_back({GgufType::INT32, int64_t{i}});
    set_array(key, std::move(a));
}

void GgufWriter::set_float32_array(const std::string& key, const std::vector<float>& items) {
    GgufArray a;
    a.elem_type = GgufType::FLOAT32;
    a.items.reserve(items.size());
    for (const float f : items) a.items.push_back({GgufType::FLOAT32, double{f}});
    set_array(key, std::move(a));
}

void GgufWriter::set_alignment(uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        fail_key("general.alignment",
                 "expected a nonzero power of two, found " + std::to_string(alignment));
    }
    set_uint32("general.alignment", alignment);
}

bool GgufWriter::remove(const std::string& key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it) {
        if (it->first == key) {
            kvs_.erase(it);
            return true;
        }
    }
    return false;
}

void GgufWriter::copy_metadata(const GgufFile& file) {
    for (const auto& [key, value] : file.metadata()) set(key, value);
}

GgufWriter::Tensor& GgufWriter::new_tensor(const std::string& name, DType dtype,
                                           const std::vector<int64_t>& ne) {
    auto fail = [&](const std::string& what) -> void {
        throw Error("gguf writer: tensor " + name + ": " + what);
    };
    if (name.empty()) fail("empty name");
    for (const Tensor& t : tensors_) {
        if (t.name == name) fail("duplicate tensor name");
    }
    if (ne.empty() || ne.size() > 4) fail("expected 1 to 4 dims, found " + std::to_string(ne.size()));
    uint64_t n_rows = 1;
    for (size_t d = 0; d < ne.size(); ++d) {
        if (ne[d] <= 0) fail("ne[" + std::to_string(d) + "] must be > 0, found " + std::to_string(ne[d]));
        if (d > 0) {
            if (n_rows > std::numeric_limits<uint64_t>::max() / uint64_t(ne[d])) fail("shape overflows");
            n_rows *= uint64_t(ne[d]);
        }
    }
    const std::optional<size_t> row = row_bytes(dtype, ne[0]);
    if (!row) {
        fail("ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
             std::string(dtype_name(dtype)) + " block size " +
             std::to_string(info(dtype).block_size));
    }
    if (*row != 0 && n_rows > std::numeric_limits<uint64_t>::max() / *row) fail("byte size overflows");
    Tensor t;
    t.name = name;
    t.dtype = dtype;
    t.ne = ne;
    t.n_bytes = static_cast<size_t>(n_rows * *row);
    tensors_.push_back(std::move(t));
    return tensors_.back();
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& ne,
                            std::vector<uint8_t> data) {
    Tensor& t = new_tensor(name, dtype, ne);
    if (data.size() != t.n_bytes) {
        const std::string msg = "gguf writer: tensor " + name + ": expected " +
                                std::to_string(t.n_bytes) + " bytes, found " +
                                std::to_string(data.size());
        tensors_.pop_back();
        throw Error(msg);
    }
    t.owned = std::move(data);
}

void GgufWriter::add_tensor_view(const std::string& name, DType dtype,
                                 const std::vector<int64_t>& ne, const void* data,
                                 size_t n_bytes) {
    Tensor& t = new_tensor(name, dtype, ne);
    if (n_bytes != t.n_bytes || data == nullptr) {
        const std::string msg = "gguf writer: tensor " + name + ": expected " +
                                std::to_string(t.n_bytes) + " bytes, found " +
                                std::to_string(n_bytes) + (data ? "" : " (null data)");
        tensors_.pop_back();
        throw Error(msg);
    }
    t.view = data;
}

void GgufWriter::add_tensor_fill(const std::string& name, DType dtype,
                                 const std::vector<int64_t>& ne, FillFn fill) {
    if (!fill) throw Error("gguf writer: tensor " + name + ": empty fill function");
    new_tensor(name, dtype, ne).fill = std::move(fill);
}

uint64_t GgufWriter::effective_alignment() const {
    for (const auto& [k, v] : kvs_) {
        if (k != "general.alignment") continue;
        const std::optional<int64_t> a = v.as_int();
        if (!a || *a <= 0 || (*a & (*a - 1)) != 0) {
            fail_key(k, "expected a nonzero power of two, found " + v.to_display());
        }
        return static_cast<uint64_t>(*a);
    }
    return kDefaultAlignment;
}

void GgufWriter::emit(Sink& sink, GgufLayout& layout) const {
    layout = GgufLayout{};
    layout.alignment = effective_alignment();
    const uint64_t a = layout.alignment;

    sink.put_value(kMagic);
    sink.put_value(version_);
    sink.put_value<uint64_t>(tensors_.size());
    sink.put_value<uint64_t>(kvs_.size());
    for (const auto& [key, value] : kvs_) {
        GgufLayout::Kv kv;
        kv.key = key;
        kv.key_offset = sink.pos;
        sink.put_string(key);
        kv.type_offset = sink.pos;
        sink.put_value(static_cast<uint32_t>(value.type));
        kv.value_offset = sink.pos;
        sink.put_gguf_value(value);
        layout.kvs.push_back(std::move(kv));
    }
    uint64_t rel = 0;  // offset within the data section
    for (const Tensor& t : tensors_) {
        GgufLayout::Tensor lt;
        lt.name = t.name;
        lt.info_offset = sink.pos;
        sink.put_string(t.name);
        lt.n_dims_offset = sink.pos;
        sink.put_value(static_cast<uint32_t>(t.ne.size()));
        lt.ne_offset = sink.pos;
        for (const int64_t n : t.ne) sink.put_value(static_cast<uint64_t>(n));
        lt.type_offset = sink.pos;
        sink.put_value(static_cast<uint32_t>(t.dtype));
        lt.offset_offset = sink.pos;
        sink.put_value(rel);
        lt.data_offset = rel;  // made absolute below
        lt.n_bytes = t.n_bytes;
        rel = align_up(rel + t.n_bytes, a);
        layout.tensors.push_back(std::move(lt));
    }
    layout.header_end = sink.pos;
    // As the reader computes it; a file without tensors ends right after its header.
    layout.data_offset = align_up(layout.header_end, a);
    for (auto& lt : layout.tensors) lt.data_offset += layout.data_offset;
    layout.file_size = tensors_.empty() ? layout.header_end : layout.data_offset + rel;
    if (!sink.wants_data()) return;

    std::vector<uint8_t> scratch;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        sink.pad_to(layout.tensors[i].data_offset);
        if (t.fill) {
            scratch.assign(t.n_bytes, 0);
            t.fill(scratch.data(), scratch.size());
            sink.put(scratch.data(), scratch.size());
        } else {
            sink.put(t.view ? t.view : t.owned.data(), t.n_bytes);
        }
    }
    sink.pad_to(layout.file_size);
}

GgufLayout GgufWriter::layout() const {
    Sink sink;
    GgufLayout layout;
    emit(sink, layout);
    return layout;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> bytes;
    Sink sink;
    sink.bytes = &bytes;
    GgufLayout layout;
    emit(sink, layout);
    return bytes;
}

void GgufWriter::write(const std::string& path) const {
    Sink sink;
    sink.path = path;
    sink.file = std::fopen(path.c_str(), "wb");
    if (!sink.file) throw Error(path + ": cannot create: " + std::strerror(errno));
    std::setvbuf(sink.file, nullptr, _IOFBF, size_t{1} << 20);
    try {
        GgufLayout layout;
        emit(sink, layout);
    } catch (...) {
        std::fclose(sink.file);
        std::remove(path.c_str());
        throw;
    }
    if (std::fclose(sink.file) != 0) {
        const int err = errno;
        std::remove(path.c_str());
        throw Error(path + ": cannot write: " + std::strerror(err));
    }
}

void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw Error(path + ": cannot create: " + std::strerror(errno));
    const size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
    const bool ok = n == bytes.size();
    if (std::fclose(f) != 0 || !ok) throw Error(path + ": cannot write: " + std::strerror(errno));
}

}  // namespace llamux
