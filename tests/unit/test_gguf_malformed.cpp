// Malformed GGUF files made here (a valid file from GgufWriter, then patched or cut): each
// must give one llamux::Error naming the file, the field, the expected and the found value.
// Never a crash, never a huge allocation (the suite also runs under ASan+UBSan).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using Bytes = std::vector<uint8_t>;

template <class T>
void patch(Bytes& b, uint64_t offset, T value) {
    ASSERT_LE(offset + sizeof(T), b.size());
    std::memcpy(b.data() + offset, &value, sizeof(T));
}

// A small valid file: every metadata kind, three tensors of different dtypes.
GgufWriter small_writer() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_uint32("llama.block_count", 1);
    w.set_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
    w.set_float32_array("tokenizer.ggml.scores", {0.f, -1.f, -2.f});
    GgufArray inner{GgufType::UINT8, {{GgufType::UINT8, uint64_t{1}}}};
    w.set_array("test.nested", GgufArray{GgufType::ARRAY,
                                         {{GgufType::ARRAY, std::make_shared<GgufArray>(inner)}}});
    w.add_tensor("a.weight", DType::F32, {8, 2}, Bytes(64, 0x11));
    w.add_tensor("b.weight", DType::Q4_0, {64}, Bytes(36, 0x22));
    w.add_tensor("c.weight", DType::F16, {16}, Bytes(32, 0x33));
    return w;
}

size_t kv_index(const GgufLayout& l, const std::string& key) {
    for (size_t i = 0; i < l.kvs.size(); ++i) {
        if (l.kvs[i].key == key) return i;
    }
    ADD_FAILURE() << "no key " << key;
    return 0;
}

class GgufMalformed : public ::testing::Test {
protected:
    void SetUp() override {
        writer_ = small_writer();
        layout_ = writer_.layout();
        bytes_ = writer_.to_bytes();
    }

    std::string write(const Bytes& b, const std::string& name = "bad.gguf") {
        const fs::path p = dir_.path() / name;
        write_file_bytes(p.string(), b);
        return p.string();
    }

    // Opening `b` throws an Error whose one-line message names the file and holds `words`.
    void expect_error(const Bytes& b, std::initializer_list<const char*> words) {
        const std::string path = write(b);
        try {
            (void)GgufFile::open(path);
            ADD_FAILURE() << "opened a malformed file";
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_THAT(msg, HasSubstr(path));
            EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
            for (const char* w : words) EXPECT_THAT(msg, HasSubstr(w));
        }
    }

    test::TempDir dir_;
    GgufWriter writer_;
    GgufLayout layout_;
    Bytes bytes_;
};

TEST_F(GgufMalformed, TheBaseFileIsValid) {
    const GgufFile f = GgufFile::open(write(bytes_));
    EXPECT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.metadata().size(), 7u);
    EXPECT_EQ(f.file_size(), layout_.file_size);
}

// Every cut inside the header and the padding, and many in the data, is refused.
TEST_F(GgufMalformed, TruncatedAtEveryHeaderOffset) {
    ASSERT_GT(layout_.data_offset, layout_.header_end);  // the cut also lands in padding
    for (uint64_t cut = 0; cut < bytes_.size(); cut += (cut < layout_.data_offset ? 1 : 7)) {
        SCOPED_TRACE("cut at " + std::to_string(cut));
        const Bytes b(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(cut));
        expect_error(b, {});
    }
    expect_error(Bytes(bytes_.begin(), bytes_.end() - 1), {"c.weight", "past the end"});
}

TEST_F(GgufMalformed, TruncationMessages) {
    expect_error({}, {"header magic", "expected 4 bytes, found 0", "truncated"});
    expect_error(Bytes(bytes_.begin(), bytes_.begin() + 6), {"header version", "truncated"});
    // Cut inside the first key's name: its length claims more than is left.
    expect_error(Bytes(bytes_.begin(), bytes_.begin() + 30), {"kv count", "at most"});
    expect_error(Bytes(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(layout_.header_end)),
                 {"tensor 0 (a.weight) offset", "past the end"});
}

TEST_F(GgufMalformed, BadMagic) {
    Bytes b = bytes_;
    std::memcpy(b.data(), "GGML", 4);
    expect_error(b, {"header magic", "expected \"GGUF\"", "found \"GGML\""});
}

TEST_F(GgufMalformed, UnsupportedVersions) {
    Bytes b = bytes_;
    patch<uint32_t>(b, GgufLayout::kVersionOffset, 1);
    expect_error(b, {"header version", "expected 2 or 3", "found 1", "v1 is not supported"});
    patch<uint32_t>(b, GgufLayout::kVersionOffset, 99);
    expect_error(b, {"header version", "expected 2 or 3", "found 99"});
    patch<uint32_t>(b, GgufLayout::kVersionOffset, 0x03000000);
    expect_error(b, {"big-endian"});
    patch<uint32_t>(b, GgufLayout::kVersionOffset, 2);
    EXPECT_EQ(GgufFile::open(write(b)).version(), 2u);
}

TEST_F(GgufMalformed, AbsurdCounts) {
    Bytes b = bytes_;
    patch<uint64_t>(b, GgufLayout::kTensorCountOffset, uint64_t{1} << 62);
    expect_error(b, {"header tensor count", "expected at most", "found 4611686018427387904"});
    b = bytes_;
    patch<uint64_t>(b, GgufLayout::kKvCountOffset, ~uint64_t{0});
    expect_error(b, {"header kv count", "expected at most", "found 18446744073709551615"});
    // Counts just one too high are caught while reading what is not there.
    b = bytes_;
    patch<uint64_t>(b, GgufLayout::kTensorCountOffset, 4);
    expect_error(b, {"tensor 3"});
    b = bytes_;
    patch<uint64_t>(b, GgufLayout::kKvCountOffset, 8);
    expect_error(b, {});
}

TEST_F(GgufMalformed, StringLengthPastTheEnd) {
    Bytes b = bytes_;
    patch<uint64_t>(b, layout_.kvs[0].key_offset, uint64_t{1} << 40);
    expect_error(b, {"key 0 name length", "past the end of the file", "1099511627776"});
    b = bytes_;
    // general.architecture's string value: its length comes first.
    patch<uint64_t>(b, layout_.kvs[0].value_offset, ~uint64_t{0});
    expect_error(b, {"key 0 (general.architecture) string length", "past the end"});
    b = bytes_;
    patch<uint64_t>(b, layout_.tensors[1].info_offset, 1000000);
    expect_error(b, {"tensor 1 name length", "past the end"});
}

TEST_F(GgufMalformed, ArrayLengthPastTheEnd) {
    const auto& kv = layout_.kvs[kv_index(layout_, "tokenizer.ggml.tokens")];
    Bytes b = bytes_;
    patch<uint64_t>(b, kv.value_offset + 4, uint64_t{1} << 61);
    expect_error(b, {"(tokenizer.ggml.tokens) array length", "expected at most",
                     "past the end of the file"});
    // An item's string length inside the array.
    b = bytes_;
    patch<uint64_t>(b, kv.value_offset + 4 + 8, 1u << 30);
    expect_error(b, {"(tokenizer.ggml.tokens) item 0 string length", "past the end"});
    // An inner array of a nested array.
    const auto& nested = layout_.kvs[kv_index(layout_, "test.nested")];
    b = bytes_;
    patch<uint64_t>(b, nested.value_offset + 12 + 4, 1u << 20);
    expect_error(b, {"(test.nested) item 0 array length", "past the end"});
}

TEST_F(GgufMalformed, UnknownMetadataType) {
    Bytes b = bytes_;
    patch<uint32_t>(b, layout_.kvs[1].type_offset, 13);
    expect_error(b, {"key 1 (llama.block_count) value type", "expected a GGUF value type",
                     "found 13 (unknown type)"});
    b = bytes_;
    const auto& kv = layout_.kvs[kv_index(layout_, "tokenizer.ggml.scores")];
    patch<uint32_t>(b, kv.value_offset, 0xFFFFFFFFu);
    expect_error(b, {"(tokenizer.ggml.scores) array element type", "unknown type"});
}

TEST_F(GgufMalformed, BadBool) {
    Bytes b = bytes_;
    const auto& kv = layout_.kvs[kv_index(layout_, "tokenizer.ggml.add_bos_token")];
    patch<uint8_t>(b, kv.value_offset, 2);
    expect_error(b, {"(tokenizer.ggml.add_bos_token) value", "0 or 1", "found 2"});
}

TEST_F(GgufMalformed, DuplicateKey) {
    // Two keys of equal length; the second one's last byte is patched to match the first.
    GgufWriter w;
    w.set_uint32("test.a", 1);
    w.set_uint32("test.b", 2);
    Bytes b = w.to_bytes();
    const auto l = w.layout();
    patch<char>(b, l.kvs[1].key_offset + 8 + 5, 'a');
    expect_error(b, {"key 1 (test.a) name", "a unique key", "duplicate of key 0"});
}

TEST_F(GgufMalformed, DuplicateTensorName) {
    Bytes b = bytes_;
    patch<char>(b, layout_.tensors[1].info_offset + 8, 'a');
    expect_error(b, {"tensor 1 (a.weight) name", "duplicate of tensor 0"});
}

TEST_F(GgufMalformed, NDims) {
    Bytes b = bytes_;
    patch<uint32_t>(b, layout_.tensors[0].n_dims_offset, 0);
    expect_error(b, {"tensor 0 (a.weight) n_dims", "expected 1 to 4", "found 0"});
    patch<uint32_t>(b, layout_.tensors[0].n_dims_offset, 5);
    expect_error(b, {"tensor 0 (a.weight) n_dims", "expected 1 to 4", "found 5"});
}

TEST_F(GgufMalformed, Dimensions) {
    const uint64_t ne = layout_.tensors[0].ne_offset;  // a.weight: F32 [8, 2]
    Bytes b = bytes_;
    patch<uint64_t>(b, ne + 8, 0);
    expect_error(b, {"tensor 0 (a.weight) ne[1]", "expected 1 to", "found 0"});
    b = bytes_;
    patch<uint64_t>(b, ne, uint64_t{1} << 63);
    expect_error(b, {"tensor 0 (a.weight) ne[0]", "found 9223372036854775808"});
    // Element count overflow.
    b = bytes_;
    patch<uint64_t>(b, ne, uint64_t{1} << 32);
    patch<uint64_t>(b, ne + 8, uint64_t{1} << 32);
    expect_error(b, {"tensor 0 (a.weight) shape", "fits int64", "4294967296x4294967296 (overflow)"});
    // Element count fits, byte count (x4 for f32) does not.
    b = bytes_;
    patch<uint64_t>(b, ne, uint64_t{1} << 31);
    patch<uint64_t>(b, ne + 8, uint64_t{1} << 31);
    expect_error(b, {"tensor 0 (a.weight) size", "fits 64 bits", "overflow"});
    // Fits, but is larger than the file.
    b = bytes_;
    patch<uint64_t>(b, ne, uint64_t{1} << 20);
    expect_error(b, {"tensor 0 (a.weight) size", "at most the file size", "8388608 bytes"});
}

TEST_F(GgufMalformed, RowNotAMultipleOfTheBlock) {
    Bytes b = bytes_;
    patch<uint64_t>(b, layout_.tensors[1].ne_offset, 48);  // b.weight is q4_0 [64]
    expect_error(b, {"tensor 1 (b.weight) ne[0]", "multiple of the q4_0 block size 32",
                     "found 48"});
}

TEST_F(GgufMalformed, UnknownTensorType) {
    for (const uint32_t id : {4u, 5u, 31u, 99u, 0x80000000u, 0xFFFFFFFFu}) {
        Bytes b = bytes_;
        patch<uint32_t>(b, layout_.tensors[2].type_offset, id);
        expect_error(b, {"tensor 2 (c.weight) type", "a known ggml type id",
                         (std::to_string(id) + " (unknown type)").c_str()});
    }
}

TEST_F(GgufMalformed, TensorPastTheEnd) {
    Bytes b = bytes_;
    patch<uint64_t>(b, layout_.tensors[2].offset_offset, 4096);
    expect_error(b, {"tensor 2 (c.weight) offset", "ends within the file", "past the end"});
    b = bytes_;
    patch<uint64_t>(b, layout_.tensors[2].offset_offset, ~uint64_t{0} - 31);
    expect_error(b, {"tensor 2 (c.weight) offset", "past the end"});
}

TEST_F(GgufMalformed, MisalignedOffset) {
    Bytes b = bytes_;
    patch<uint64_t>(b, layout_.tensors[1].offset_offset, 4);
    expect_error(b, {"tensor 1 (b.weight) offset", "a multiple of the alignment 32",
                     "found 4 (misaligned)"});
}

// Tensors may share bytes (llama.cpp never writes that, but nothing forbids it).
TEST_F(GgufMalformed, OverlappingTensorsAreAllowed) {
    Bytes b = bytes_;
    patch<uint64_t>(b, layout_.tensors[2].offset_offset, 0);
    const GgufFile f = GgufFile::open(write(b));
    EXPECT_EQ(f.find_tensor("c.weight")->data, f.find_tensor("a.weight")->data);
}

TEST_F(GgufMalformed, BadAlignment) {
    GgufWriter w = small_writer();
    w.set_alignment(64);
    const auto l = w.layout();
    const auto& kv = l.kvs[kv_index(l, "general.alignment")];
    Bytes b = w.to_bytes();
    EXPECT_EQ(GgufFile::open(write(b, "ok64.gguf")).alignment(), 64u);
    patch<uint32_t>(b, kv.value_offset, 48);
    expect_error(b, {"(general.alignment) value", "a nonzero power of two", "found 48"});
    patch<uint32_t>(b, kv.value_offset, 0);
    expect_error(b, {"(general.alignment) value", "a nonzero power of two", "found 0"});
    // A float is no alignment.
    patch<uint32_t>(b, kv.value_offset, 0x42800000u);  // 64.0f
    patch<uint32_t>(b, kv.type_offset, static_cast<uint32_t>(GgufType::FLOAT32));
    expect_error(b, {"(general.alignment) value", "an unsigned integer", "found float32"});
    // A larger alignment moves the data section: the tensors then end past the file.
    patch<uint32_t>(b, kv.type_offset, static_cast<uint32_t>(GgufType::UINT32));
    patch<uint32_t>(b, kv.value_offset, 1u << 31);
    expect_error(b, {"offset", "past the end"});
}

TEST_F(GgufMalformed, NestingTooDeep) {
    // 9 arrays nested in one another: header, one key "k", then 9 x (type=array, len=1).
    Bytes b = {'G', 'G', 'U', 'F'};
    auto put32 = [&](uint32_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
    auto put64 = [&](uint64_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8); };
    put32(3);
    put64(0);
    put64(1);
    put64(1);
    b.push_back('k');
    put32(static_cast<uint32_t>(GgufType::ARRAY));
    for (int i = 0; i < 9; ++i) {
        put32(static_cast<uint32_t>(GgufType::ARRAY));
        put64(1);
    }
    for (int i = 0; i < 64; ++i) b.push_back(0);
    expect_error(b, {"key 0 (k)", "nested at most 8 deep"});
}

TEST_F(GgufMalformed, NotAFile) {
    const std::string missing = (dir_.path() / "missing.gguf").string();
    try {
        (void)GgufFile::open(missing);
        ADD_FAILURE() << "opened a missing file";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr(missing));
        EXPECT_THAT(e.what(), HasSubstr("cannot open"));
    }
    try {
        (void)GgufFile::open(dir_.path().string());
        ADD_FAILURE() << "opened a directory";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("regular file"));
    }
}

// Every single-byte corruption of the header either opens or throws Error; nothing else.
TEST_F(GgufMalformed, SingleByteCorruptionNeverCrashes) {
    for (uint64_t off = 0; off < layout_.header_end; ++off) {
        for (const uint8_t v : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
            Bytes b = bytes_;
            b[off] = v;
            const std::string path = write(b);
            try {
                (void)GgufFile::open(path);
            } catch (const Error& e) {
                EXPECT_THAT(e.what(), HasSubstr(path));
            }
        }
    }
}

TEST_F(GgufMalformed, LlamuxInfoReportsTheFile) {
    if (!fs::exists(test::llamux_exe())) GTEST_SKIP() << "llamux binary not built";
    Bytes b = bytes_;
    patch<uint32_t>(b, layout_.tensors[1].type_offset, 99);
    const std::string path = write(b);
    const auto r = test::run_command({test::llamux_exe().string(), "info", path});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr(path));
    EXPECT_THAT(r.err, HasSubstr("unknown type"));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace llamux
