// llamux quantize: byte identity with llama.cpp's quantize tool on the synth-tiny files,
// llama.cpp's per-tensor type choices for the mixes, the fallback for row lengths a block
// does not divide (stories260K's 172-wide ffn_down), and the error cases of the command.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "llamux/gguf.hpp"
#include "llamux/model.hpp"
#include "llamux/quantizer.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

std::vector<char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every tensor of `expected` is in `actual` with the same type, shape and bytes; same count.
void expect_same_tensors(const fs::path& actual, const fs::path& expected) {
    const GgufFile a = GgufFile::open(actual.string());
    const GgufFile e = GgufFile::open(expected.string());
    ASSERT_EQ(a.tensors().size(), e.tensors().size());
    for (size_t i = 0; i < e.tensors().size(); ++i) {
        const GgufTensorInfo& et = e.tensors()[i];
        const GgufTensorInfo* at = a.find_tensor(et.name);
        ASSERT_NE(at, nullptr) << et.name;
        EXPECT_EQ(a.tensors()[i].name, et.name) << "tensor order at " << i;
        EXPECT_EQ(dtype_name(at->dtype), dtype_name(et.dtype)) << et.name;
        EXPECT_EQ(at->ne, et.ne) << et.name;
        ASSERT_EQ(at->n_bytes, et.n_bytes) << et.name;
        EXPECT_EQ(std::memcmp(at->data, et.data, et.n_bytes), 0) << et.name << ": bytes differ";
    }
}

// The acceptance cases, through the command line.
class QuantizeCommand : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeCommand, MatchesLlamaCppByteForByte) {
    const std::string type = GetParam();
    LLAMUX_FIXTURE(input, "models/synth/synth-tiny-F32.gguf");
    LLAMUX_FIXTURE(expected, "models/synth/synth-tiny-" + type + ".gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / ("tiny-" + type + ".gguf");
    const auto r = test::run_command(
        {test::llamux_exe().string(), "quantize", input.string(), out.string(), type, "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("blk.0.attn_q.weight"), std::string::npos) << "one progress line per tensor";
    expect_same_tensors(out, expected);
    EXPECT_TRUE(read_bytes(out) == read_bytes(expected)) << "whole file differs from llama.cpp's";
}

INSTANTIATE_TEST_SUITE_P(LegacyTypes, QuantizeCommand, ::testing::Values("Q4_0", "Q8_0"));

// Every other synth-tiny file, through the library (each mix's choices and quantizers).
class QuantizeMix : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeMix, MatchesLlamaCppByteForByte) {
    const std::string type = GetParam();
    LLAMUX_FIXTURE(input, "models/synth/synth-tiny-F32.gguf");
    LLAMUX_FIXTURE(expected, "models/synth/synth-tiny-" + type + ".gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / "out.gguf";
    QuantizeOptions o;
    o.type = *file_type_from_name(type);
    o.n_threads = 3;  // uneven row split on purpose
    quantize_file(input.string(), out.string(), o);
    expect_same_tensors(out, expected);
    EXPECT_TRUE(read_bytes(out) == read_bytes(expected)) << "whole file differs from llama.cpp's";
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, QuantizeMix,
                         ::testing::Values("F16", "Q4_1", "Q5_0", "Q6_K", "Q2_K", "Q3_K_M",
                                           "Q4_K_M", "Q5_K_M"));

TEST(Quantize, StoriesF16MatchesLlamaCpp) {
    LLAMUX_FIXTURE(input, "models/stories260K.gguf");
    LLAMUX_FIXTURE(expected, "models/stories260K-F16.gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / "s.gguf";
    QuantizeOptions o;
    o.type = FileType::F16;
    quantize_file(input.string(), out.string(), o);
    EXPECT_TRUE(read_bytes(out) == read_bytes(expected));
}

// stories260K's ffn_down rows are 172 wide: no 32- or 256-element block fits, so they
// fall back to F16; the 64-wide rows fit the 32-element types but not the K-quants.
TEST(Quantize, FallbackForRowsNoBlockDivides) {
    LLAMUX_FIXTURE(input, "models/stories260K.gguf");
    struct Expect {
        FileType type;
        DType main, ffn_down, output, attn_output;
    };
    const Expect cases[] = {
        {FileType::Q8_0, DType::Q8_0, DType::F16, DType::Q8_0, DType::Q8_0},
        {FileType::Q4_0, DType::Q4_0, DType::F16, DType::Q8_0, DType::Q4_0},
        {FileType::Q4_K_M, DType::Q5_0, DType::F16, DType::Q8_0, DType::Q5_0},  // Q4_K -> Q5_0
        {FileType::Q5_K_S, DType::Q5_1, DType::F16, DType::Q8_0, DType::Q5_1},  // Q5_K -> Q5_1
        {FileType::Q6_K, DType::Q8_0, DType::F16, DType::Q8_0, DType::Q8_0},    // Q6_K -> Q8_0
        {FileType::Q2_K, DType::Q4_0, DType::F16, DType::Q8_0, DType::Q4_0},    // Q3_K -> Q4_0
    };
    test::TempDir dir;
    for (const Expect& c : cases) {
        SCOPED_TRACE(std::string(file_type_name(c.type)));
        const fs::path out = dir.path() / "s.gguf";
        QuantizeOptions o;
        o.type = c.type;
        const QuantizeSummary s = quantize_file(input.string(), out.string(), o);
        EXPECT_GE(s.n_fallback, 5u);
        const GgufFile f = GgufFile::open(out.string());
        EXPECT_EQ(f.get_int("general.file_type"), static_cast<int64_t>(c.type));
        EXPECT_EQ(f.find_tensor("blk.1.attn_q.weight")->dtype, c.main);
        EXPECT_EQ(f.find_tensor("blk.1.attn_output.weight")->dtype, c.attn_output);
        EXPECT_EQ(f.find_tensor("blk.4.ffn_down.weight")->dtype, c.ffn_down);
        EXPECT_EQ(f.find_tensor("output.weight")->dtype, c.output);
        EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->dtype, DType::F32);
    }
}

SessionOptions cpu_options() {
    SessionOptions o;
    o.n_threads = 2;
    o.n_ctx = 64;
    o.plugins.default_dirs = false;
    o.plugins.env_path = false;
    o.plugins.dirs = {test::plugin_dir()};
    return o;
}

// The quantized stories260K files run, and stay close to llama.cpp's F32 logits. Bound:
// 8-bit weights (and F16 ffn_down) move logits by about 1e-2 of the row's largest value;
// 4-bit ones by several times that, so Q4_0 only has to produce finite logits.
TEST(Quantize, QuantizedStoriesRuns) {
    LLAMUX_FIXTURE(input, "models/stories260K.gguf");
    LLAMUX_FIXTURE(ref_path, "testdata/reference/stories260K-F32.once-upon-a-time.json");
    const test::Reference ref = test::load_reference(ref_path);
    test::TempDir dir;
    for (const char* type : {"Q8_0", "Q4_0"}) {
        SCOPED_TRACE(type);
        const fs::path out = dir.path() / (std::string(type) + ".gguf");
        const auto r = test::run_command({test::llamux_exe().string(), "quantize",
                                          input.string(), out.string(), type});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto model = Model::load(out.string());
        Session session(model, cpu_options());
        const std::vector<float> logits = session.decode(ref.prompt_tokens, true);
        const size_t n_vocab = size_t(ref.n_vocab);
        ASSERT_EQ(logits.size(), ref.prompt_tokens.size() * n_vocab);
        for (size_t row = 0; row < ref.prompt_tokens.size(); ++row) {
            const std::vector<float> got(logits.begin() + std::ptrdiff_t(row * n_vocab),
                                         logits.begin() + std::ptrdiff_t((row + 1) * n_vocab));
            const double err = test::relative_row_error(got, ref.logits[row]);
            EXPECT_TRUE(std::isfinite(err)) << "row " << row;
            if (std::string(type) == "Q8_0") {
                EXPECT_LT(err, 5e-2) << "row " << row;
            }
        }
    }
}

// llama.cpp's choices on the benchmark shapes, without writing files.
MixContext context(int32_t n_layer, int32_t n_head, int32_t n_head_kv) {
    MixContext c;
    c.n_layer = n_layer;
    c.n_head = n_head;
    c.n_head_kv = n_head_kv;
    c.n_attn_v = n_layer;
    return c;
}

DType pick(FileType ft, const MixContext& c, const std::string& name, int64_t ne0 = 4096,
           uint32_t n_dims = 2) {
    return choose_tensor_type(ft, c, name, n_dims, ne0, DType::F32).type;
}

std::string layers_with(FileType ft, const MixContext& c, const std::string& tensor, DType t) {
    std::string s;
    for (int i = 0; i < c.n_layer; ++i) {
        if (pick(ft, c, "blk." + std::to_string(i) + "." + tensor) == t) {
            s += (s.empty() ? "" : ",") + std::to_string(i);
        }
    }
    return s;
}

TEST(QuantizeMixChoice, OutputEmbeddingAndNorms) {
    const MixContext c = context(32, 32, 32);
    for (FileType ft : all_file_types()) {
        SCOPED_TRACE(std::string(file_type_name(ft)));
        const DType base = file_type_base(ft);
        const DType out = pick(ft, c, "output.weight");
        if (ft == FileType::Q8_0) {
            EXPECT_EQ(out, DType::Q8_0);
        } else if (info(base).quantized) {
            EXPECT_EQ(out, DType::Q6_K);
        } else {
            EXPECT_EQ(out, base);
        }
        EXPECT_EQ(pick(ft, c, "token_embd.weight"), base);
        EXPECT_EQ(pick(ft, c, "blk.0.attn_norm.weight", 4096, 1), DType::F32);
        EXPECT_EQ(pick(ft, c, "output_norm.weight", 4096, 1), DType::F32);
    }
    MixContext tied = c;
    tied.has_output = false;  // the embedding doubles as the head
    EXPECT_EQ(pick(FileType::Q4_0, tied, "token_embd.weight"), DType::Q6_K);
}

TEST(QuantizeMixChoice, UseMoreBitsLayers) {
    const MixContext tinyllama = context(22, 32, 4);  // GQA 8
    const MixContext llama7b = context(32, 32, 32);
    // use_more_bits(i, 22): i < 2, i >= 19, or (i - 2) % 3 == 2
    EXPECT_EQ(layers_with(FileType::Q4_K_M, tinyllama, "attn_v.weight", DType::Q6_K),
              "0,1,4,7,10,13,16,19,20,21");
    EXPECT_EQ(layers_with(FileType::Q4_K_M, tinyllama, "ffn_down.weight", DType::Q6_K),
              "0,1,4,7,10,13,16,19,20,21");
    EXPECT_EQ(layers_with(FileType::Q5_K_M, llama7b, "ffn_down.weight", DType::Q6_K),
              "0,1,2,3,6,9,12,15,18,21,24,27,28,29,30,31");
    EXPECT_EQ(pick(FileType::Q4_K_M, tinyllama, "blk.5.attn_q.weight"), DType::Q4_K);
    EXPECT_EQ(pick(FileType::Q4_K_M, tinyllama, "blk.5.ffn_up.weight"), DType::Q4_K);

    EXPECT_EQ(layers_with(FileType::Q3_K_M, llama7b, "attn_v.weight", DType::Q5_K), "0,1");
    EXPECT_EQ(pick(FileType::Q3_K_M, llama7b, "blk.2.attn_v.weight"), DType::Q4_K);
    EXPECT_EQ(layers_with(FileType::Q3_K_M, llama7b, "ffn_down.weight", DType::Q5_K), "0,1");
    EXPECT_EQ(pick(FileType::Q3_K_M, llama7b, "blk.2.ffn_down.weight"), DType::Q4_K);
    EXPECT_EQ(pick(FileType::Q3_K_M, llama7b, "blk.2.attn_output.weight"), DType::Q4_K);
    EXPECT_EQ(pick(FileType::Q3_K_M, llama7b, "blk.2.attn_q.weight"), DType::Q3_K);

    EXPECT_EQ(pick(FileType::Q3_K_L, llama7b, "blk.9.attn_v.weight"), DType::Q5_K);
    EXPECT_EQ(pick(FileType::Q3_K_L, llama7b, "blk.9.ffn_down.weight"), DType::Q5_K);
    EXPECT_EQ(pick(FileType::Q3_K_L, llama7b, "blk.9.attn_output.weight"), DType::Q5_K);
    EXPECT_EQ(pick(FileType::Q3_K_S, llama7b, "blk.9.ffn_down.weight"), DType::Q3_K);

    EXPECT_EQ(layers_with(FileType::Q4_K_S, llama7b, "attn_v.weight", DType::Q5_K), "0,1,2,3");
    EXPECT_EQ(layers_with(FileType::Q4_K_S, llama7b, "ffn_down.weight", DType::Q5_K), "0,1,2,3");
    EXPECT_EQ(pick(FileType::Q5_K_S, llama7b, "blk.0.ffn_down.weight"), DType::Q5_K);
    EXPECT_EQ(pick(FileType::Q5_K_S, llama7b, "blk.0.attn_v.weight"), DType::Q5_K);

    // Q2_K: attn_v is Q4_K with GQA >= 4, else Q3_K; ffn_down and attn_output Q3_K.
    EXPECT_EQ(pick(FileType::Q2_K, tinyllama, "blk.3.attn_v.weight"), DType::Q4_K);
    EXPECT_EQ(pick(FileType::Q2_K, llama7b, "blk.3.attn_v.weight"), DType::Q3_K);
    EXPECT_EQ(pick(FileType::Q2_K, llama7b, "blk.3.ffn_down.weight"), DType::Q3_K);
    EXPECT_EQ(pick(FileType::Q2_K, llama7b, "blk.3.attn_output.weight"), DType::Q3_K);
    EXPECT_EQ(pick(FileType::Q2_K, llama7b, "blk.3.ffn_gate.weight"), DType::Q2_K);

    // The legacy types have no mix.
    for (FileType ft : {FileType::Q4_0, FileType::Q4_1, FileType::Q5_0, FileType::Q5_1,
                        FileType::Q8_0, FileType::F16, FileType::BF16, FileType::F32}) {
        SCOPED_TRACE(std::string(file_type_name(ft)));
        const DType base = file_type_base(ft);
        for (const char* t : {"attn_v.weight", "ffn_down.weight", "attn_output.weight"}) {
            EXPECT_EQ(layers_with(ft, tinyllama, t, base),
                      "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21");
        }
    }
}

TEST(QuantizeMixChoice, FileTypeNames) {
    EXPECT_EQ(file_type_from_name("q4_k_m"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("Q4_K"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("Q9_9"), std::nullopt);
    EXPECT_EQ(file_type_description(15), "Q4_K - Medium");
    EXPECT_EQ(file_type_description(0), "all F32");
    EXPECT_EQ(static_cast<uint32_t>(FileType::BF16), 32u);
    EXPECT_EQ(all_file_types().size(), 17u);
}

TEST(QuantizeMixChoice, TensorOrderIsLlamaCpps) {
    std::vector<std::string> names = {"blk.10.attn_q.weight", "token_embd.weight",
                                      "blk.2.ffn_up.weight",  "output.weight",
                                      "blk.2.attn_k.weight",  "output_norm.weight"};
    std::sort(names.begin(), names.end(), tensor_order_less);
    EXPECT_EQ(names, (std::vector<std::string>{"output.weight", "output_norm.weight",
                                               "token_embd.weight", "blk.2.attn_k.weight",
                                               "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}));
}

// Errors: exit 1, one line naming what is wrong.
TEST(QuantizeErrors, UnknownType) {
    LLAMUX_FIXTURE(input, "models/synth/synth-tiny-F32.gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / "o.gguf";
    const auto r = test::run_command(
        {test::llamux_exe().string(), "quantize", input.string(), out.string(), "Q9_9"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("TYPE"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Q9_9"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Q4_K_M"), std::string::npos) << "lists the known types: " << r.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST(QuantizeErrors, UnreadableInput) {
    test::TempDir dir;
    const fs::path missing = dir.path() / "missing.gguf";
    const fs::path out = dir.path() / "o.gguf";
    auto r = test::run_command(
        {test::llamux_exe().string(), "quantize", missing.string(), out.string(), "Q8_0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;

    const fs::path junk = dir.path() / "junk.gguf";
    std::ofstream(junk) << "not a gguf file";
    r = test::run_command(
        {test::llamux_exe().string(), "quantize", junk.string(), out.string(), "Q8_0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(junk.string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST(QuantizeErrors, OutputNotWritable) {
    LLAMUX_FIXTURE(input, "models/synth/synth-tiny-F32.gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / "no-such-dir" / "o.gguf";
    auto r = test::run_command(
        {test::llamux_exe().string(), "quantize", input.string(), out.string(), "Q8_0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(out.string()), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("[   1/"), std::string::npos) << "fails before converting: " << r.err;

    // Writing over the input would truncate the file being read.
    const fs::path copy = dir.path() / "in.gguf";
    fs::copy_file(input, copy);
    r = test::run_command(
        {test::llamux_exe().string(), "quantize", copy.string(), copy.string(), "Q8_0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(copy.string()), std::string::npos) << r.err;
    EXPECT_EQ(fs::file_size(copy), fs::file_size(input));
}

}  // namespace
}  // namespace llamux
