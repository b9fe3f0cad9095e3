// GGUF reader on the real fixtures, GgufWriter round trips, and `llamux info`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    return out;
}

std::vector<int64_t> shape_of(const GgufTensorInfo& t) {
    return std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims);
}

// Every tensor lies inside the file, at an aligned offset, with the byte size of its shape.
void expect_consistent_tensors(const GgufFile& f) {
    if (f.tensors().empty()) return;
    // The start of the mapping, as seen from the first tensor.
    const auto* base = static_cast<const uint8_t*>(f.tensors()[0].data) -
                       (f.data_offset() + f.tensors()[0].offset);
    for (const auto& t : f.tensors()) {
        SCOPED_TRACE(t.name);
        EXPECT_EQ(t.offset % f.alignment(), 0u);
        EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, f.file_size());
        EXPECT_EQ(static_cast<const uint8_t*>(t.data), base + f.data_offset() + t.offset);
        int64_t rows = 1;
        for (uint32_t d = 1; d < t.n_dims; ++d) rows *= t.ne[d];
        ASSERT_TRUE(row_bytes(t.dtype, t.ne[0]).has_value());
        EXPECT_EQ(t.n_bytes, *row_bytes(t.dtype, t.ne[0]) * static_cast<size_t>(rows));
        EXPECT_EQ(f.find_tensor(t.name), &t);
    }
}

TEST(GgufReader, Stories260KHeader) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.path(), path.string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.metadata().size(), 19u);
    EXPECT_EQ(f.tensors().size(), 48u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.find("general.alignment"), nullptr);
    EXPECT_EQ(f.data_offset(), 14176u);
    EXPECT_EQ(f.file_size(), 1185376u);
    uint64_t end = 0;
    for (const auto& t : f.tensors()) end = std::max(end, f.data_offset() + t.offset + t.n_bytes);
    EXPECT_EQ(end, f.file_size());
    expect_consistent_tensors(f);
}

TEST(GgufReader, Stories260KHyperparameters) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.get_string("general.architecture"), "llama");
    EXPECT_EQ(f.get_string("general.name"), "llama");
    EXPECT_EQ(f.get_int("llama.block_count"), 5);
    EXPECT_EQ(f.get_int("llama.embedding_length"), 64);
    EXPECT_EQ(f.get_int("llama.feed_forward_length"), 172);
    EXPECT_EQ(f.get_int("llama.attention.head_count"), 8);
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 8);
    EXPECT_EQ(f.get_int("llama.context_length"), 2048);
    ASSERT_TRUE(f.get_float("llama.attention.layer_norm_rms_epsilon").has_value());
    EXPECT_FLOAT_EQ(static_cast<float>(*f.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
    EXPECT_EQ(f.find("llama.attention.layer_norm_rms_epsilon")->type, GgufType::FLOAT32);
    EXPECT_FALSE(f.get_float("llama.rope.freq_base").has_value());
    EXPECT_FALSE(f.get_int("llama.vocab_size").has_value());
    EXPECT_FALSE(f.get_int("general.file_type").has_value());
    EXPECT_FALSE(f.get_bool("tokenizer.ggml.add_bos_token").has_value());

    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f.get_int("tokenizer.ggml.unknown_token_id"), 0);
    EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
    EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);
    EXPECT_EQ(f.get_int("tokenizer.ggml.seperator_token_id"), 0xFFFFFFFFll);
    EXPECT_EQ(f.get_int("tokenizer.ggml.padding_token_id"), 0xFFFFFFFFll);

    const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    ASSERT_NE(tokens, nullptr);
    ASSERT_EQ(tokens->items.size(), 512u);
    EXPECT_EQ(*tokens->items[0].as_string(), "<unk>");
    EXPECT_EQ(*tokens->items[1].as_string(), "<s>");
    EXPECT_EQ(*tokens->items[2].as_string(), "</s>");
    EXPECT_EQ(*tokens->items[3].as_string(), "<0x00>");
    const GgufArray* scores = f.get_array("tokenizer.ggml.scores", GgufType::FLOAT32);
    ASSERT_NE(scores, nullptr);
    EXPECT_EQ(scores->items.size(), 512u);
    const GgufArray* types = f.get_array("tokenizer.ggml.token_type", GgufType::INT32);
    ASSERT_NE(types, nullptr);
    ASSERT_EQ(types->items.size(), 512u);
    std::map<int64_t, int> count;
    for (const auto& v : types->items) count[*v.as_int()]++;
    EXPECT_EQ(count[2], 1);    // unknown
    EXPECT_EQ(count[3], 2);    // control
    EXPECT_EQ(count[6], 256);  // byte
    EXPECT_EQ(count[1], 253);  // normal

    EXPECT_THAT(f.find("tokenizer.ggml.tokens")->to_display(3),
                HasSubstr(R"([string x 512: "<unk>", "<s>", "</s>", ...])"));
    EXPECT_EQ(f.find("llama.block_count")->to_display(), "5");
    EXPECT_EQ(f.find("llama.attention.layer_norm_rms_epsilon")->to_display(), "1e-05");
}

TEST(GgufReader, Stories260KTensors) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const GgufFile f = GgufFile::open(path.string());
    const std::map<std::string, std::vector<int64_t>> expected_layer = {
        {"attn_q", {64, 64}},   {"attn_k", {64, 32}},    {"attn_v", {64, 32}},
        {"attn_output", {64, 64}}, {"attn_norm", {64}},  {"ffn_norm", {64}},
        {"ffn_gate", {64, 172}}, {"ffn_up", {64, 172}},  {"ffn_down", {172, 64}},
    };
    std::map<std::string, std::vector<int64_t>> expected = {
        {"token_embd.weight", {64, 512}}, {"output_norm.weight", {64}}, {"output.weight", {64, 512}}};
    for (int l = 0; l < 5; ++l) {
        for (const auto& [n, shape] : expected_layer) {
            expected["blk." + std::to_string(l) + "." + n + ".weight"] = shape;
        }
    }
    ASSERT_EQ(expected.size(), 48u);
    for (const auto& [name, shape] : expected) {
        SCOPED_TRACE(name);
        const GgufTensorInfo* t = f.find_tensor(name);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->dtype, DType::F32);
        EXPECT_EQ(shape_of(*t), shape);
    }
    EXPECT_EQ(f.find_tensor("blk.5.attn_q.weight"), nullptr);
}

// The mapped embedding is the llama2.c checkpoint's, byte for byte (after its 7-int header).
TEST(GgufReader, Stories260KDataMatchesCheckpoint) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    LLAMUX_FIXTURE(bin, "models/stories260K.bin");
    const GgufFile f = GgufFile::open(path.string());
    const auto ckpt = read_file(bin);
    const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    ASSERT_EQ(emb->n_bytes, 64u * 512u * 4u);
    ASSERT_GE(ckpt.size(), 28 + emb->n_bytes);
    EXPECT_EQ(std::memcmp(emb->data, ckpt.data() + 28, emb->n_bytes), 0);

    const auto raw = read_file(path);
    for (const auto& t : f.tensors()) {
        ASSERT_EQ(std::memcmp(t.data, raw.data() + f.data_offset() + t.offset, t.n_bytes), 0) << t.name;
    }
}

TEST(GgufReader, TypedGettersRefuseOtherTypes) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const GgufFile f = GgufFile::open(path.string());
    try {
        (void)f.get_string("llama.block_count");
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr(path.string()));
        EXPECT_THAT(e.what(), HasSubstr("llama.block_count"));
        EXPECT_THAT(e.what(), HasSubstr("expected a string, found uint32"));
    }
    EXPECT_THROW((void)f.get_int("general.name"), Error);
    EXPECT_THROW((void)f.get_bool("llama.block_count"), Error);
    EXPECT_THROW((void)f.get_float("tokenizer.ggml.tokens"), Error);
    try {
        (void)f.get_array("tokenizer.ggml.tokens", GgufType::INT32);
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("expected array of int32, found array of string"));
    }
    EXPECT_THROW((void)f.get_array("general.name", GgufType::STRING), Error);
    EXPECT_EQ(f.get_array("no.such.key", GgufType::STRING), nullptr);
    EXPECT_FALSE(f.get_string("no.such.key").has_value());
    // Integers read as floats too.
    EXPECT_EQ(f.get_float("llama.block_count"), 5.0);
}

TEST(GgufReader, MoveKeepsMappingAlive) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    GgufFile a = GgufFile::open(path.string());
    const void* data = a.find_tensor("output.weight")->data;
    GgufFile b = std::move(a);
    EXPECT_EQ(b.find_tensor("output.weight")->data, data);
    float first = 0;
    std::memcpy(&first, data, sizeof(first));
    EXPECT_TRUE(std::isfinite(first));
}

TEST(GgufReader, VocabOnlyFile) {
    LLAMUX_FIXTURE(path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.tensors().size(), 0u);
    EXPECT_EQ(f.metadata().size(), 22u);
    EXPECT_EQ(f.get_string("general.name"), "llama-spm");
    EXPECT_EQ(f.get_int("general.file_type"), 1);
    EXPECT_EQ(f.get_int("llama.block_count"), 32);
    EXPECT_EQ(f.get_int("llama.embedding_length"), 4096);
    EXPECT_EQ(f.get_int("llama.feed_forward_length"), 11008);
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 32);
    EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 128);
    EXPECT_EQ(f.get_int("llama.vocab_size"), 32000);
    EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "default");
    EXPECT_EQ(f.get_bool("tokenizer.ggml.add_bos_token"), true);
    EXPECT_EQ(f.get_bool("tokenizer.ggml.add_eos_token"), false);
    for (const auto& [key, type] : {std::pair{"tokenizer.ggml.tokens", GgufType::STRING},
                                    {"tokenizer.ggml.scores", GgufType::FLOAT32},
                                    {"tokenizer.ggml.token_type", GgufType::INT32}}) {
        const GgufArray* a = f.get_array(key, type);
        ASSERT_NE(a, nullptr) << key;
        EXPECT_EQ(a->items.size(), 32000u) << key;
    }
}

// The synth files: name, main dtype, llama.cpp file type.
struct SynthCase {
    const char* file;
    DType main;
    int64_t file_type;
};

class GgufSynth : public ::testing::TestWithParam<SynthCase> {};

TEST_P(GgufSynth, ShapesAndTypes) {
    const SynthCase c = GetParam();
    LLAMUX_FIXTURE(path, std::string("models/synth/") + c.file);
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.get_int("llama.embedding_length"), 256);
    EXPECT_EQ(f.get_int("llama.block_count"), 4);
    EXPECT_EQ(f.get_int("llama.attention.head_count"), 8);
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(f.get_int("llama.feed_forward_length"), 768);
    EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 32);
    EXPECT_EQ(f.get_float("llama.rope.freq_base"), 10000.0);
    EXPECT_EQ(f.get_int("llama.vocab_size"), 512);
    const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens", GgufType::STRING);
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->items.size(), 512u);
    EXPECT_EQ(f.get_int("general.file_type"), c.file_type);

    ASSERT_EQ(f.tensors().size(), 3u + 4u * 9u);
    const std::map<std::string, std::vector<int64_t>> layer = {
        {"attn_q", {256, 256}},  {"attn_k", {256, 128}},     {"attn_v", {256, 128}},
        {"attn_output", {256, 256}}, {"ffn_gate", {256, 768}}, {"ffn_up", {256, 768}},
        {"ffn_down", {768, 256}},
    };
    std::map<DType, int> type_count;
    auto check = [&](const std::string& name, const std::vector<int64_t>& shape, bool norm) {
        SCOPED_TRACE(name);
        const GgufTensorInfo* t = f.find_tensor(name);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(shape_of(*t), shape);
        if (norm) {
            EXPECT_EQ(t->dtype, DType::F32);
        } else {
            type_count[t->dtype]++;
        }
    };
    check("token_embd.weight", {256, 512}, false);
    check("output.weight", {256, 512}, false);
    check("output_norm.weight", {256}, true);
    for (int l = 0; l < 4; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        check(p + "attn_norm.weight", {256}, true);
        check(p + "ffn_norm.weight", {256}, true);
        for (const auto& [n, shape] : layer) check(p + n + ".weight", shape, false);
    }
    // The main type is the most common type of the matrices, and attn_q's.
    const auto main = std::max_element(type_count.begin(), type_count.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    EXPECT_EQ(main->first, c.main) << dtype_name(main->first);
    EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->dtype, c.main);
    expect_consistent_tensors(f);
}

INSTANTIATE_TEST_SUITE_P(
    AllSynthFiles, GgufSynth,
    ::testing::Values(SynthCase{"synth-tiny-F32.gguf", DType::F32, 0},
                      SynthCase{"synth-tiny-F16.gguf", DType::F16, 1},
                      SynthCase{"synth-tiny-Q8_0.gguf", DType::Q8_0, 7},
                      SynthCase{"synth-tiny-Q4_0.gguf", DType::Q4_0, 2},
                      SynthCase{"synth-tiny-Q4_1.gguf", DType::Q4_1, 3},
                      SynthCase{"synth-tiny-Q5_0.gguf", DType::Q5_0, 8},
                      SynthCase{"synth-tiny-Q6_K.gguf", DType::Q6_K, 18},
                      SynthCase{"synth-tiny-Q4_K_M.gguf", DType::Q4_K, 15},
                      SynthCase{"synth-tiny-Q5_K_M.gguf", DType::Q5_K, 17},
                      SynthCase{"synth-tiny-Q3_K_M.gguf", DType::Q3_K, 12},
                      SynthCase{"synth-tiny-Q2_K.gguf", DType::Q2_K, 10}),
    [](const ::testing::TestParamInfo<SynthCase>& param_info) {
        std::string name = param_info.param.file;
        name = name.substr(std::strlen("synth-tiny-"));
        name = name.substr(0, name.find('.'));
        return name;
    });

// Every file in models/synth/ is covered by the cases above.
TEST(GgufSynthDir, EveryFileIsCovered) {
    LLAMUX_FIXTURE(dir, "models/synth");
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".gguf") continue;
        ++n;
        EXPECT_NO_THROW((void)GgufFile::open(e.path().string())) << e.path();
    }
    EXPECT_EQ(n, 11u);
}

// ---- GgufWriter round trips -------------------------------------------------------------

GgufValue nested_array() {
    GgufArray inner1{GgufType::INT16, {{GgufType::INT16, int64_t{-3}}, {GgufType::INT16, int64_t{7}}}};
    GgufArray inner2{GgufType::INT16, {}};
    GgufArray outer{GgufType::ARRAY,
                    {{GgufType::ARRAY, std::make_shared<GgufArray>(inner1)},
                     {GgufType::ARRAY, std::make_shared<GgufArray>(inner2)}}};
    return {GgufType::ARRAY, std::make_shared<GgufArray>(outer)};
}

GgufWriter every_type_writer() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_uint8("t.u8", 250);
    w.set_int8("t.i8", -120);
    w.set_uint16("t.u16", 65000);
    w.set_int16("t.i16", -32000);
    w.set_uint32("t.u32", 4000000000u);
    w.set_int32("t.i32", -2000000000);
    w.set_uint64("t.u64", 0xFFFFFFFFFFFFFFFFull);
    w.set_int64("t.i64", -(int64_t{1} << 62));
    w.set_float32("t.f32", 0.1f);
    w.set_float64("t.f64", 0.1);
    w.set_bool("t.bool", true);
    w.set_string("t.str", "h\xc3\xa9llo\n\"w\"");
    w.set_string("t.empty", "");
    w.set_string_array("t.strs", {"a", "", "ccc"});
    w.set_int32_array("t.i32s", {1, -2, 3});
    w.set_float32_array("t.f32s", {});
    w.set("t.nested", nested_array());
    return w;
}

TEST(GgufWriter, RoundTripEveryValueTypeAndDtype) {
    test::TempDir dir;
    GgufWriter w = every_type_writer();
    w.set_alignment(64);
    w.add_tensor("a.f32", DType::F32, {8, 3}, random_bytes(8 * 3 * 4, 1));
    w.add_tensor("b.f16", DType::F16, {5}, random_bytes(10, 2));
    w.add_tensor("c.q4_0", DType::Q4_0, {64, 2}, random_bytes(2 * 2 * 18, 3));
    w.add_tensor("d.q8_0", DType::Q8_0, {32, 1, 2, 3}, random_bytes(6 * 34, 4));
    const auto q6 = random_bytes(210, 5);
    w.add_tensor_view("e.q6_k", DType::Q6_K, {256}, q6.data(), q6.size());
    w.add_tensor_fill("f.i32", DType::I32, {3}, [](uint8_t* dst, size_t n) {
        for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i);
    });
    const fs::path path = dir.path() / "all.gguf";
    w.write(path.string());

    const auto bytes = w.to_bytes();
    EXPECT_EQ(read_file(path), bytes);
    const GgufLayout layout = w.layout();
    EXPECT_EQ(layout.file_size, bytes.size());
    EXPECT_EQ(layout.alignment, 64u);

    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 64u);
    EXPECT_EQ(f.data_offset(), layout.data_offset);
    EXPECT_EQ(f.data_offset() % 64, 0u);
    EXPECT_EQ(f.file_size(), bytes.size());
    ASSERT_EQ(f.metadata().size(), w.kv_count());
    EXPECT_EQ(f.metadata()[0].first, "general.architecture");
    EXPECT_EQ(f.get_int("t.u8"), 250);
    EXPECT_EQ(f.get_int("t.i8"), -120);
    EXPECT_EQ(f.get_int("t.u16"), 65000);
    EXPECT_EQ(f.get_int("t.i16"), -32000);
    EXPECT_EQ(f.get_int("t.u32"), 4000000000ll);
    EXPECT_EQ(f.get_int("t.i32"), -2000000000);
    EXPECT_EQ(std::get<uint64_t>(f.find("t.u64")->value), 0xFFFFFFFFFFFFFFFFull);
    EXPECT_FALSE(f.find("t.u64")->as_int().has_value());
    EXPECT_THAT([&] { (void)f.get_int("t.u64"); }, ::testing::Throws<Error>());
    EXPECT_EQ(f.get_int("t.i64"), -(int64_t{1} << 62));
    EXPECT_EQ(f.get_float("t.f32"), double{0.1f});
    EXPECT_EQ(f.get_float("t.f64"), 0.1);
    EXPECT_EQ(f.find("t.f32")->to_display(), "0.1");
    EXPECT_EQ(f.get_bool("t.bool"), true);
    EXPECT_EQ(f.get_string("t.str"), "h\xc3\xa9llo\n\"w\"");
    EXPECT_EQ(f.find("t.str")->to_display(), "h\xc3\xa9llo\\n\"w\"");
    EXPECT_EQ(f.get_string("t.empty"), "");
    EXPECT_EQ(f.find("t.strs")->to_display(), R"([string x 3: "a", "", "ccc"])");
    EXPECT_EQ(f.find("t.i32s")->to_display(2), "[int32 x 3: 1, -2, ...]");
    const GgufArray* empty = f.get_array("t.f32s", GgufType::FLOAT32);
    ASSERT_NE(empty, nullptr);
    EXPECT_TRUE(empty->items.empty());
    const GgufArray* nested = f.get_array("t.nested", GgufType::ARRAY);
    ASSERT_NE(nested, nullptr);
    ASSERT_EQ(nested->items.size(), 2u);
    ASSERT_NE(nested->items[0].as_array(), nullptr);
    EXPECT_EQ(nested->items[0].as_array()->elem_type, GgufType::INT16);
    EXPECT_EQ(nested->items[0].as_array()->items[1].as_int(), 7);
    EXPECT_EQ(f.find("t.nested")->to_display(), "[array x 2: [int16 x 2: -3, 7], [int16 x 0]]");

    ASSERT_EQ(f.tensors().size(), 6u);
    expect_consistent_tensors(f);
    for (size_t i = 0; i < layout.tensors.size(); ++i) {
        const auto& lt = layout.tensors[i];
        const GgufTensorInfo& t = f.tensors()[i];
        EXPECT_EQ(t.name, lt.name);
        EXPECT_EQ(f.data_offset() + t.offset, lt.data_offset);
        EXPECT_EQ(t.n_bytes, lt.n_bytes);
        EXPECT_EQ(std::memcmp(t.data, bytes.data() + lt.data_offset, t.n_bytes), 0);
    }
    EXPECT_EQ(f.find_tensor("d.q8_0")->n_dims, 4u);
    EXPECT_EQ(shape_of(*f.find_tensor("d.q8_0")), (std::vector<int64_t>{32, 1, 2, 3}));
    EXPECT_EQ(f.find_tensor("e.q6_k")->dtype, DType::Q6_K);
    EXPECT_EQ(std::memcmp(f.find_tensor("e.q6_k")->data, q6.data(), q6.size()), 0);
    EXPECT_EQ(static_cast<const uint8_t*>(f.find_tensor("f.i32")->data)[11], 11);
}

TEST(GgufWriter, Version2ReadsTheSame) {
    test::TempDir dir;
    GgufWriter w = every_type_writer();
    w.set_version(2);
    w.add_tensor("x", DType::F32, {4}, random_bytes(16, 9));
    const fs::path path = dir.path() / "v2.gguf";
    w.write(path.string());
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.version(), 2u);
    EXPECT_EQ(f.get_string("t.str"), "h\xc3\xa9llo\n\"w\"");
    EXPECT_EQ(f.tensors().size(), 1u);
}

TEST(GgufWriter, NoTensorsEndsAtHeader) {
    test::TempDir dir;
    GgufWriter w;
    w.set_string("general.name", "x");
    const auto bytes = w.to_bytes();
    EXPECT_EQ(bytes.size(), w.layout().header_end);
    const fs::path path = dir.path() / "empty.gguf";
    write_file_bytes(path.string(), bytes);
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_TRUE(f.tensors().empty());
    EXPECT_EQ(f.get_string("general.name"), "x");
}

TEST(GgufWriter, SetReplacesInPlaceAndRemove) {
    GgufWriter w;
    w.set_uint32("a", 1);
    w.set_uint32("b", 2);
    w.set_string("a", "now a string");
    EXPECT_EQ(w.kv_count(), 2u);
    EXPECT_EQ(w.layout().kvs[0].key, "a");
    EXPECT_TRUE(w.remove("a"));
    EXPECT_FALSE(w.remove("a"));
    EXPECT_EQ(w.kv_count(), 1u);
}

TEST(GgufWriter, RefusesInvalidInput) {
    GgufWriter w;
    EXPECT_THROW(w.set("k", GgufValue{GgufType::UINT8, uint64_t{256}}), Error);
    EXPECT_THROW(w.set("k", GgufValue{GgufType::INT8, int64_t{-129}}), Error);
    EXPECT_THROW(w.set("k", GgufValue{GgufType::UINT32, int64_t{1}}), Error);
    EXPECT_THROW(w.set("k", GgufValue{GgufType::STRING, uint64_t{1}}), Error);
    EXPECT_THROW(w.set("k", GgufValue{GgufType::ARRAY, std::shared_ptr<GgufArray>()}), Error);
    EXPECT_THROW(w.set("k", GgufValue{GgufType::FLOAT32, 1e300}), Error);
    EXPECT_THROW(w.set_array("k", GgufArray{GgufType::INT32, {{GgufType::UINT32, uint64_t{1}}}}),
                 Error);
    EXPECT_THROW(w.set_alignment(48), Error);
    EXPECT_THROW(w.set_alignment(0), Error);
    EXPECT_EQ(w.kv_count(), 0u);

    EXPECT_THROW(w.add_tensor("t", DType::F32, {4}, std::vector<uint8_t>(15)), Error);
    EXPECT_THROW(w.add_tensor("t", DType::Q4_0, {48}, std::vector<uint8_t>(27)), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {}, {}), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {1, 1, 1, 1, 1}, std::vector<uint8_t>(4)), Error);
    EXPECT_THROW(w.add_tensor("t", DType::F32, {0}, {}), Error);
    EXPECT_THROW(w.add_tensor("", DType::F32, {1}, std::vector<uint8_t>(4)), Error);
    EXPECT_EQ(w.tensor_count(), 0u);
    w.add_tensor("t", DType::F32, {1}, std::vector<uint8_t>(4));
    EXPECT_THROW(w.add_tensor("t", DType::F32, {1}, std::vector<uint8_t>(4)), Error);
    EXPECT_EQ(w.tensor_count(), 1u);

    test::TempDir dir;
    try {
        w.write((dir.path() / "no-such-dir" / "x.gguf").string());
        FAIL() << "expected an Error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("no-such-dir"));
    }
}

// A quantize-style copy: every key of a real file survives a write and a read.
TEST(GgufWriter, CopyMetadataOfARealFile) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const GgufFile src = GgufFile::open(path.string());
    GgufWriter w;
    w.copy_metadata(src);
    for (const auto& t : src.tensors()) {
        w.add_tensor_view(t.name, t.dtype, shape_of(t), t.data, t.n_bytes);
    }
    test::TempDir dir;
    const fs::path out = dir.path() / "copy.gguf";
    w.write(out.string());
    // Same layout rules as llama.cpp: the copy is the original, byte for byte.
    EXPECT_EQ(read_file(out), read_file(path));
    const GgufFile copy = GgufFile::open(out.string());
    ASSERT_EQ(copy.metadata().size(), src.metadata().size());
    for (size_t i = 0; i < src.metadata().size(); ++i) {
        EXPECT_EQ(copy.metadata()[i].first, src.metadata()[i].first);
        EXPECT_EQ(copy.metadata()[i].second.to_display(1000), src.metadata()[i].second.to_display(1000));
    }
}

// ---- llamux info --------------------------------------------------------------------------

#define LLAMUX_REQUIRE_EXE()                                                  \
    if (!fs::exists(test::llamux_exe())) {                                   \
        GTEST_SKIP() << "llamux binary not built: " << test::llamux_exe();   \
    }

TEST(LlamuxInfo, TextOnStories260K) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    LLAMUX_REQUIRE_EXE();
    const auto r = test::run_command({test::llamux_exe().string(), "info", path.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("token_embd.weight"));
    EXPECT_THAT(r.out, HasSubstr("blk.4.ffn_down.weight"));
    EXPECT_THAT(r.out, HasSubstr("172 x 64"));
    EXPECT_THAT(r.out, HasSubstr("Total: 48 tensors, 1171200 bytes"));
    EXPECT_THAT(r.out, HasSubstr("10000 (default)"));
    EXPECT_THAT(r.out, HasSubstr("512 (token list length)"));
    EXPECT_THAT(r.out, HasSubstr(R"([string x 512: "<unk>", "<s>")"));
}

TEST(LlamuxInfo, JsonOnStories260K) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    LLAMUX_REQUIRE_EXE();
    const auto r = test::run_command({test::llamux_exe().string(), "info", path.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("version"), 3);
    EXPECT_EQ(j.at("data_offset"), 14176);
    EXPECT_EQ(j.at("n_tensors"), 48);
    EXPECT_EQ(j.at("total_bytes"), 1171200);
    EXPECT_EQ(j.at("tensors").size(), 48u);
    EXPECT_EQ(j.at("tensors")[0].at("name"), "token_embd.weight");
    EXPECT_EQ(j.at("metadata").size(), 19u);
    EXPECT_EQ(j.at("metadata").at("llama.block_count").at("value"), 5);
    EXPECT_EQ(j.at("metadata").at("tokenizer.ggml.tokens").at("length"), 512);
    const auto& hp = j.at("hparams");
    EXPECT_EQ(hp.at("block_count"), 5);
    EXPECT_EQ(hp.at("embedding_length"), 64);
    EXPECT_EQ(hp.at("feed_forward_length"), 172);
    EXPECT_EQ(hp.at("head_count"), 8);
    EXPECT_EQ(hp.at("head_count_kv"), 4);
    EXPECT_EQ(hp.at("rope_dimension_count"), 8);
    EXPECT_EQ(hp.at("context_length"), 2048);
    EXPECT_DOUBLE_EQ(hp.at("rms_epsilon").get<double>(), 1e-5);
    EXPECT_EQ(hp.at("rope_freq_base"), 10000.0);
    EXPECT_EQ(hp.at("vocab_size"), 512);
    EXPECT_EQ(j.at("hparam_sources").at("rope_freq_base"), "default");
}

TEST(LlamuxInfo, MissingFileFails) {
    LLAMUX_REQUIRE_EXE();
    test::TempDir dir;
    const std::string missing = (dir.path() / "missing.gguf").string();
    const auto r = test::run_command({test::llamux_exe().string(), "info", missing});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr(missing));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(LlamuxInfo, Help) {
    LLAMUX_REQUIRE_EXE();
    const auto r = test::run_command({test::llamux_exe().string(), "info", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr("--json"));
}

}  // namespace
}  // namespace llamux
