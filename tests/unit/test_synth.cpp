// llamux synth: random-weight Llama 2 files of real shapes. Only the tiny shape is written
// here (fast); the large shapes are checked through their hyperparameters.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "llamux/gguf.hpp"
#include "llamux/model.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/session.hpp"
#include "llamux/synth_model.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

std::vector<char> read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

SessionOptions cpu_options() {
    SessionOptions o;
    o.n_threads = 2;
    o.n_ctx = 32;
    o.plugins.default_dirs = false;
    o.plugins.env_path = false;
    o.plugins.dirs = {test::plugin_dir()};
    return o;
}

TEST(Synth, Shapes) {
    const auto b1 = synth_shape("1b");
    ASSERT_TRUE(b1);
    EXPECT_EQ(b1->n_embd, 2048);
    EXPECT_EQ(b1->n_layer, 22);
    EXPECT_EQ(b1->n_head, 32);
    EXPECT_EQ(b1->n_head_kv, 4);
    EXPECT_EQ(b1->n_ff, 5632);
    EXPECT_EQ(b1->n_vocab, 32000);
    const auto b7 = synth_shape("7b");
    ASSERT_TRUE(b7);
    EXPECT_EQ(b7->n_embd, 4096);
    EXPECT_EQ(b7->n_layer, 32);
    EXPECT_EQ(b7->n_head_kv, 32);
    EXPECT_EQ(b7->n_ff, 11008);
    const auto b13 = synth_shape("13b");
    ASSERT_TRUE(b13);
    EXPECT_EQ(b13->n_embd, 5120);
    EXPECT_EQ(b13->n_layer, 40);
    EXPECT_EQ(b13->n_head, 40);
    EXPECT_EQ(b13->n_ff, 13824);
    EXPECT_FALSE(synth_shape("3b"));
}

// The tiny shape in Q4_K_M: the synth-tiny fixture's hyperparameters, and the same types,
// shapes, order and sizes as llama.cpp's Q4_K_M file of that shape; it loads and decodes.
TEST(Synth, TinyQ4KMLikeLlamaCppAndRuns) {
    LLAMUX_FIXTURE(vocab, "models/stories260K.gguf");
    LLAMUX_FIXTURE(like, "models/synth/synth-tiny-Q4_K_M.gguf");
    test::TempDir dir;
    const fs::path out = dir.path() / "tiny.gguf";
    const auto r = test::run_command({test::llamux_exe().string(), "synth", "--shape", "tiny",
                                      "--type", "Q4_K_M", "-o", out.string(), "--vocab-from",
                                      vocab.string(), "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;

    const GgufFile f = GgufFile::open(out.string());
    const GgufFile ref = GgufFile::open(like.string());
    for (const char* key :
         {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
          "llama.attention.head_count", "llama.attention.head_count_kv",
          "llama.rope.dimension_count", "llama.context_length", "llama.vocab_size",
          "general.file_type", "general.quantization_version", "tokenizer.ggml.bos_token_id"}) {
        EXPECT_EQ(f.get_int(key), ref.get_int(key)) << key;
    }
    EXPECT_EQ(f.get_int("general.file_type"), 15);
    EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
    ASSERT_EQ(f.tensors().size(), ref.tensors().size());
    for (size_t i = 0; i < ref.tensors().size(); ++i) {
        const auto& a = f.tensors()[i];
        const auto& e = ref.tensors()[i];
        EXPECT_EQ(a.name, e.name);
        EXPECT_EQ(dtype_name(a.dtype), dtype_name(e.dtype)) << e.name;
        EXPECT_EQ(a.ne, e.ne) << e.name;
        EXPECT_EQ(a.offset, e.offset) << e.name;
    }
    EXPECT_EQ(f.file_size(), ref.file_size());

    auto model = Model::load(out.string());
    EXPECT_EQ(model->hparams().n_vocab, 512);
    Session session(model, cpu_options());
    const std::vector<float> logits = session.decode({1, 100, 200, 300});
    ASSERT_EQ(logits.size(), 512u);
    for (const float x : logits) ASSERT_TRUE(std::isfinite(x));
    EXPECT_EQ(session.decode({42}).size(), 512u);
}

// Weights are roughly normal(0, std), norms roughly 1; the same seed gives the same file
// whatever the thread count, another seed another file.
TEST(Synth, ValuesAndDeterminism) {
    LLAMUX_FIXTURE(vocab, "models/stories260K.gguf");
    test::TempDir dir;
    SynthOptions o;
    o.shape = *synth_shape("tiny");
    o.type = FileType::F32;
    o.vocab_from = vocab.string();
    o.seed = 7;
    o.n_threads = 1;
    const fs::path a = dir.path() / "a.gguf", b = dir.path() / "b.gguf", c = dir.path() / "c.gguf";
    const SynthSummary s = write_synth_model(a.string(), o);
    EXPECT_EQ(s.n_tensors, 39u);
    EXPECT_EQ(s.n_params, 3410176u);
    o.n_threads = 3;
    write_synth_model(b.string(), o);
    o.seed = 8;
    write_synth_model(c.string(), o);
    EXPECT_TRUE(read_bytes(a) == read_bytes(b));
    EXPECT_FALSE(read_bytes(a) == read_bytes(c));

    const GgufFile f = GgufFile::open(a.string());
    auto stats = [&](const std::string& name) {
        const GgufTensorInfo* t = f.find_tensor(name);
        const auto* x = static_cast<const float*>(t->data);
        const size_t n = t->n_bytes / sizeof(float);
        double sum = 0, sq = 0;
        for (size_t i = 0; i < n; ++i) sum += x[i];
        const double mean = sum / double(n);
        for (size_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
        return std::pair{mean, std::sqrt(sq / double(n))};
    };
    const auto [wm, ws] = stats("blk.1.ffn_up.weight");
    EXPECT_NEAR(wm, 0.0, 1e-3);
    EXPECT_NEAR(ws, 0.02, 1e-3);
    const auto [nm, ns] = stats("blk.1.attn_norm.weight");
    EXPECT_NEAR(nm, 1.0, 0.02);
    EXPECT_LT(ns, 0.1);
    // Rows differ from each other (per-row streams are not repeated).
    const auto* emb = static_cast<const float*>(f.find_tensor("token_embd.weight")->data);
    EXPECT_NE(emb[0], emb[256]);
}

TEST(Synth, Errors) {
    test::TempDir dir;
    const fs::path out = dir.path() / "o.gguf";
    auto r = test::run_command({test::llamux_exe().string(), "synth", "--shape", "huge",
                                "--type", "Q4_0", "-o", out.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--shape"), std::string::npos) << r.err;
    r = test::run_command({test::llamux_exe().string(), "synth", "--shape", "tiny", "--type",
                           "Q7", "-o", out.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--type"), std::string::npos) << r.err;
    const fs::path missing = dir.path() / "missing.gguf";
    r = test::run_command({test::llamux_exe().string(), "synth", "--shape", "tiny", "-o",
                           out.string(), "--vocab-from", missing.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace llamux
