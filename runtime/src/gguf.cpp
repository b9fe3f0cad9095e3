// GgufFile: maps a GGUF v2/v3 file read-only and validates every field before use.
//
// Layout (all little-endian): magic "GGUF", u32 version, u64 tensor count, u64 kv count,
// the key/value pairs (string key, u32 value type, value), the tensor infos (string name,
// u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset), padding up to the alignment, then
// the tensor data. Strings are a u64 length and that many bytes, without a terminator.
// Arrays are a u32 element type, a u64 length and the elements; they may nest.
#include "llamux/gguf.hpp"

#include <bit>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "llamux/error.hpp"
#include "llamux/log.hpp"
#include "mapped_file.hpp"

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader reads little-endian fields in place");

namespace llamux {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset
constexpr int kMaxArrayDepth = 8;
// A parsed item takes ~48 bytes however small it is on disk: these bound the memory a small
// file can make the reader allocate (the largest real vocabularies hold ~260k tokens).
constexpr uint64_t kMaxArrayItems = uint64_t{1} << 24;
constexpr uint64_t kMaxTotalItems = uint64_t{1} << 26;
constexpr uint32_t kMaxValueType = static_cast<uint32_t>(GgufType::FLOAT64);
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::string str(uint64_t v) { return std::to_string(v); }

// A key or tensor name fit for an error message: non-printable bytes as '?', long names cut.
std::string printable(std::string_view s) {
    constexpr size_t kMax = 80;
    std::string out;
    for (size_t i = 0; i < s.size() && i < kMax; ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        out += (u < 0x20 || u == 0x7f) ? '?' : s[i];
    }
    if (s.size() > kMax) out += "...";
    return out;
}

// Bytes the smallest encoded element of a type takes: bounds array lengths by the file size.
uint64_t min_encoded_size(GgufType t) {
    switch (t) {
        case GgufType::UINT8:
        case GgufType::INT8:
        case GgufType::BOOL: return 1;
        case GgufType::UINT16:
        case GgufType::INT16: return 2;
        case GgufType::UINT32:
        case GgufType::INT32:
        case GgufType::FLOAT32: return 4;
        case GgufType::UINT64:
        case GgufType::INT64:
        case GgufType::FLOAT64:
        case GgufType::STRING: return 8;   // the length of an empty string
        case GgufType::ARRAY: return 12;   // element type and length of an empty array
    }
    return 1;
}

// A bounds-checked cursor over the mapped bytes. Every read names the field it reads, in
// the current context ("key 3 (general.name)", "tensor 5 (output.weight)", plus the item
// indices of the arrays being read), so that errors say exactly where the file is wrong.
class Parser {
public:
    Parser(const std::string& path, const uint8_t* base, uint64_t size)
        : path_(path), base_(base), size_(size) {}

    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }
    void set_context(std::string ctx) {
        ctx_ = std::move(ctx);
        items_.clear();
    }

    std::string where(std::string_view field) const {
        std::string w = ctx_;
        for (const uint64_t i : items_) w += " item " + str(i);
        if (!field.empty()) {
            if (!w.empty()) w += ' ';
            w += field;
        }
        return w;
    }

    [[noreturn]] void fail(std::string_view field, const std::string& expected,
                           const std::string& found) const {
        throw Error(path_ + ": " + where(field) + ": expected " + expected + ", found " + found);
    }

    void need(uint64_t n, std::string_view field) const {
        if (n > remaining()) {
            throw Error(path_ + ": " + where(field) + " at offset " + str(pos_) + ": expected " +
                        str(n) + " bytes, found " + str(remaining()) +
                        " (truncated file: it ends at " + str(size_) + " bytes)");
        }
    }

    template <class T>
    T read(std::string_view field) {
        need(sizeof(T), field);
        T v;
        std::memcpy(&v, base_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    std::string read_string(std::string_view length_field) {
        const uint64_t len = read<uint64_t>(length_field);
        if (len > remaining()) {
            fail(length_field, "at most " + str(remaining()) + " (the bytes left in the file)",
                 str(len) + " (past the end of the file)");
        }
        std::string s(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
        pos_ += len;
        return s;
    }

    GgufType read_type(std::string_view field) {
        const uint32_t t = read<uint32_t>(field);
        if (t > kMaxValueType) {
            fail(field, "a GGUF value type 0 to " + str(kMaxValueType),
                 str(t) + " (unknown type)");
        }
        return static_cast<GgufType>(t);
    }

    GgufValue read_value(GgufType type, int depth) {
        GgufValue v;
        v.type = type;
        switch (type) {
            case GgufType::UINT8: v.value = uint64_t{read<uint8_t>("value")}; break;
            case GgufType::INT8: v.value = int64_t{read<int8_t>("value")}; break;
            case GgufType::UINT16: v.value = uint64_t{read<uint16_t>("value")}; break;
            case GgufType::INT16: v.value = int64_t{read<int16_t>("value")}; break;
            case GgufType::UINT32: v.value = uint64_t{read<uint32_t>("value")}; break;
            case GgufType::INT32: v.value = int64_t{read<int32_t>("value")}; break;
            case GgufType::UINT64: v.value = read<uint64_t>("value"); break;
            case GgufType::INT64: v.value = read<int64_t>("value"); break;
            case GgufType::FLOAT32: v.value = double{read<float>("value")}; break;
            case GgufType::FLOAT64: v.value = read<double>("value"); break;
            case GgufType::BOOL: {
                const uint8_t b = read<uint8_t>("value");
                if (b > 1) fail("value", "a bool (0 or 1)", str(b));
                v.value = b != 0;
                break;
            }
            case GgufType::STRING: v.value = read_string("string length"); break;
            case GgufType::ARRAY: v.value = read_array(depth); break;
        }
        return v;
    }

private:
    std::shared_ptr<GgufArray> read_array(int depth) {
        if (depth >= kMaxArrayDepth) {
            fail("array", "arrays nested at most " + str(kMaxArrayDepth) + " deep",
                 "deeper nesting");
        }
        const GgufType elem = read_type("array element type");
        const uint64_t n = read<uint64_t>("array length");
        const uint64_t min_size = min_encoded_size(elem);
        if (n > remaining() / min_size) {
            fail("array length",
                 "at most " + str(remaining() / min_size) + " (" + str(remaining()) +
                     " bytes left in the file, at least " + str(min_size) + " per " +
                     std::string(gguf_type_name(elem)) + ")",
                 str(n) + " (past the end of the file)");
        }
        if (n > kMaxArrayItems) {
            fail("array length", "at most " + str(kMaxArrayItems) + " items", str(n));
        }
        if (n > kMaxTotalItems - total_items_) {
            fail("array length",
                 "at most " + str(kMaxTotalItems) + " array items in all the metadata",
                 str(n) + " more after " + str(total_items_));
        }
        total_items_ += n;
        auto arr = std::make_shared<GgufArray>();
        arr->elem_type = elem;
        arr->items.reserve(static_cast<size_t>(n));
        items_.push_back(0);
        for (uint64_t i = 0; i < n; ++i) {
            items_.back() = i;
            arr->items.push_back(read_value(elem, depth + 1));
        }
        items_.pop_back();
        return arr;
    }

    const std::string& path_;
    const uint8_t* base_;
    uint64_t size_;
    uint64_t pos_ = 0;
    std::string ctx_;
    std::vector<uint64_t> items_;
    uint64_t total_items_ = 0;
};

uint32_t byteswap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

std::string describe_magic(const uint8_t* p) {
    std::string s = "\"";
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<char>(p[i]);
        s += (p[i] < 0x20 || p[i] >= 0x7f) ? '?' : c;
        v |= uint32_t{p[i]} << (8 * i);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    s += "\" (0x";
    for (int shift = 28; shift >= 0; shift -= 4) s += kHex[(v >> shift) & 0xf];
    return s + ")";
}

std::string shape_string(const std::array<int64_t, 4>& ne, uint32_t n_dims) {
    std::string s;
    for (uint32_t d = 0; d < n_dims; ++d) {
        if (d) s += 'x';
        s += std::to_string(ne[d]);
    }
    return s;
}

std::string describe_type(const GgufValue& v) {
    std::string s(gguf_type_name(v.type));
    if (const GgufArray* a = v.as_array()) {
        s += " of " + std::string(gguf_type_name(a->elem_type));
    }
    return s;
}

}  // namespace

struct GgufFile::Impl {
    std::string path;
    MappedFile file;
    uint32_t version = 0;
    uint64_t alignment = kDefaultAlignment;
    uint64_t data_offset = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata;
    std::unordered_map<std::string, size_t> key_index;
    std::vector<GgufTensorInfo> tensors;
    std::unordered_map<std::string, size_t> tensor_index;

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() = default;

    void parse();
    [[noreturn]] void type_error(const std::string& key, const std::string& expected,
                                 const GgufValue& v) const {
        throw Error(path + ": key " + key + ": expected " + expected + ", found " +
                    describe_type(v));
    }
};

void GgufFile::Impl::parse() {
    const uint8_t* base = file.data();
    const uint64_t file_size = file.size();
    Parser p(path, base, file_size);

    // Header.
    p.set_context("header");
    p.need(4, "magic");
    if (std::memcmp(base, "GGUF", 4) != 0) {
        p.fail("magic", "\"GGUF\"", describe_magic(base));
    }
    (void)p.read<uint32_t>("magic");
    version = p.read<uint32_t>("version");
    if (version != 2 && version != 3) {
        std::string found = str(version);
        if (version == 1) {
            found += " (GGUF v1 is not supported)";
        } else if (const uint32_t swapped = byteswap32(version); swapped >= 1 && swapped <= 3) {
            found += " (a big-endian file?)";
        }
        p.fail("version", "2 or 3", found);
    }
    const uint64_t n_tensors = p.read<uint64_t>("tensor count");
    const uint64_t n_kv = p.read<uint64_t>("kv count");
    uint64_t left = p.remaining();
    if (n_kv > left / kMinKvBytes) {
        p.fail("kv count",
               "at most " + str(left / kMinKvBytes) + " (" + str(left) +
                   " bytes left in the file, at least " + str(kMinKvBytes) + " per key)",
               str(n_kv));
    }
    left -= n_kv * kMinKvBytes;
    if (n_tensors > left / kMinTensorInfoBytes) {
        p.fail("tensor count",
               "at most " + str(left / kMinTensorInfoBytes) + " (" + str(left) +
                   " bytes left in the file after the keys, at least " +
                   str(kMinTensorInfoBytes) + " per tensor)",
               str(n_tensors));
    }

    // Metadata.
    metadata.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
        p.set_context("key " + str(i));
        std::string key = p.read_string("name length");
        p.set_context("key " + str(i) + " (" + printable(key) + ")");
        if (const auto it = key_index.find(key); it != key_index.end()) {
            p.fail("name", "a unique key", "a duplicate of key " + str(it->second));
        }
        const GgufType type = p.read_type("value type");
        GgufValue value = p.read_value(type, 0);
        key_index.emplace(key, metadata.size());
        metadata.emplace_back(std::move(key), std::move(value));
    }

    if (const auto it = key_index.find("general.alignment"); it != key_index.end()) {
        p.set_context("key " + str(it->second) + " (general.alignment)");
        const GgufValue& v = metadata[it->second].second;
        const std::optional<int64_t> a = v.as_int();
        if (!a) p.fail("value", "an unsigned integer", describe_type(v));
        if (*a <= 0 || !std::has_single_bit(static_cast<uint64_t>(*a))) {
            p.fail("value", "a nonzero power of two", std::to_string(*a));
        }
        alignment = static_cast<uint64_t>(*a);
    }

    // Tensor infos.
    tensors.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        p.set_context("tensor " + str(i));
        GgufTensorInfo t;
        t.name = p.read_string("name length");
        p.set_context("tensor " + str(i) + " (" + printable(t.name) + ")");
        if (const auto it = tensor_index.find(t.name); it != tensor_index.end()) {
            p.fail("name", "a unique tensor name", "a duplicate of tensor " + str(it->second));
        }
        t.n_dims = p.read<uint32_t>("n_dims");
        if (t.n_dims < 1 || t.n_dims > 4) p.fail("n_dims", "1 to 4", str(t.n_dims));
        uint64_t dims[4] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            dims[d] = p.read<uint64_t>("ne[" + str(d) + "]");
        }
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            if (dims[d] == 0 || dims[d] > kMaxInt64) {
                p.fail("ne[" + str(d) + "]", "1 to " + str(kMaxInt64), str(dims[d]));
            }
            t.ne[d] = static_cast<int64_t>(dims[d]);
        }
        uint64_t n_elements = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            if (n_elements > kMaxInt64 / dims[d]) {
                p.fail("shape", "an element count that fits int64",
                       shape_string(t.ne, t.n_dims) + " (overflow)");
            }
            n_elements *= dims[d];
        }
        const uint32_t type_id = p.read<uint32_t>("type");
        const std::optional<DTypeInfo> di =
            type_id <= static_cast<uint32_t>(std::numeric_limits<int32_t>::max())
                ? dtype_info(static_cast<int32_t>(type_id))
                : std::nullopt;
        if (!di) p.fail("type", "a known ggml type id", str(type_id) + " (unknown type)");
        t.dtype = di->type;
        t.offset = p.read<uint64_t>("offset");

        const auto block = static_cast<uint64_t>(di->block_size);
        if (dims[0] % block != 0) {
            p.fail("ne[0]",
                   "a multiple of the " + std::string(di->name) + " block size " + str(block),
                   str(dims[0]));
        }
        const uint64_t blocks_per_row = dims[0] / block;
        const uint64_t rows = n_elements / dims[0];
        const uint64_t type_size = di->type_size;
        if (blocks_per_row > std::numeric_limits<uint64_t>::max() / type_size ||
            blocks_per_row * type_size > std::numeric_limits<uint64_t>::max() / rows) {
            p.fail("size", "a byte size that fits 64 bits",
                   shape_string(t.ne, t.n_dims) + " " + std::string(di->name) + " (overflow)");
        }
        const uint64_t n_bytes = blocks_per_row * type_size * rows;
        if (n_bytes > file_size) {
            p.fail("size", "at most the file size (" + str(file_size) + " bytes)",
                   str(n_bytes) + " bytes (" + shape_string(t.ne, t.n_dims) + " " +
                       std::string(di->name) + ")");
        }
        t.n_bytes = static_cast<size_t>(n_bytes);
        tensor_index.emplace(t.name, tensors.size());
        tensors.push_back(std::move(t));
    }

    // Data section.
    const uint64_t header_end = p.pos();
    p.set_context("header");
    if (header_end > std::numeric_limits<uint64_t>::max() - (alignment - 1)) {
        p.fail("data offset", "a header end that can be aligned to " + str(alignment),
               str(header_end) + " (overflow)");
    }
    data_offset = (header_end + alignment - 1) / alignment * alignment;

    for (size_t i = 0; i < tensors.size(); ++i) {
        GgufTensorInfo& t = tensors[i];
        p.set_context("tensor " + str(i) + " (" + printable(t.name) + ")");
        if (t.offset % alignment != 0) {
            p.fail("offset", "a multiple of the alignment " + str(alignment),
                   str(t.offset) + " (misaligned)");
        }
        if (data_offset > file_size || t.offset > file_size - data_offset ||
            t.n_bytes > file_size - data_offset - t.offset) {
            p.fail("offset",
                   "data that ends within the file (" + str(file_size) + " bytes)",
                   "data section " + str(data_offset) + " + offset " + str(t.offset) + " + " +
                       str(t.n_bytes) + " bytes, past the end of the file");
        }
        t.data = base + data_offset + t.offset;
    }
}

GgufFile GgufFile::open(const std::string& path, const LoadOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->file = MappedFile::open(path, options);
    impl->parse();
    logger("gguf")->info("{}: GGUF v{}, {} tensors, {} keys, alignment {}, data at {}", path,
                         impl->version, impl->tensors.size(), impl->metadata.size(),
                         impl->alignment, impl->data_offset);
    return GgufFile(std::move(impl));
}

GgufFile::GgufFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

const std::string& GgufFile::path() const { return impl_->path; }
uint32_t GgufFile::version() const { return impl_->version; }
uint64_t GgufFile::alignment() const { return impl_->alignment; }
uint64_t GgufFile::data_offset() const { return impl_->data_offset; }
uint64_t GgufFile::file_size() const { return impl_->file.size(); }

const std::vector<std::pair<std::string, GgufValue>>& GgufFile::metadata() const {
    return impl_->metadata;
}

const GgufValue* GgufFile::find(const std::string& key) const {
    const auto it = impl_->key_index.find(key);
    return it == impl_->key_index.end() ? nullptr : &impl_->metadata[it->second].second;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const std::string* s = v->as_string()) return *s;
    impl_->type_error(key, "a string", *v);
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto i = v->as_int()) return i;
    if (const auto* u = std::get_if<uint64_t>(&v->value)) {
        throw Error(impl_->path + ": key " + key + ": expected an integer that fits int64, found " +
                    str(*u));
    }
    impl_->type_error(key, "an integer", *v);
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const auto f = v->as_float()) return f;
    impl_->type_error(key, "a number", *v);
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if (const bool* b = std::get_if<bool>(&v->value)) return *b;
    impl_->type_error(key, "a bool", *v);
}

const GgufArray* GgufFile::get_array(const std::string& key, GgufType elem_type) const {
    const GgufValue* v = find(key);
    if (!v) return nullptr;
    const GgufArray* a = v->as_array();
    if (!a || a->elem_type != elem_type) {
        impl_->type_error(key, "array of " + std::string(gguf_type_name(elem_type)), *v);
    }
    return a;
}

const std::vector<GgufTensorInfo>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    const auto it = impl_->tensor_index.find(name);
    return it == impl_->tensor_index.end() ? nullptr : &impl_->tensors[it->second];
}

}  // namespace llamux
