// Embeddings: Session::embed gives the hidden states the head multiplies, pooling and
// normalization follow llama.cpp's definitions, and `llamux embedding` prints what
// llama.cpp's embedding tool prints for the same file.
#include <gmock/gmock.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "llamux/embedding.hpp"
#include "llamux/error.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

TEST(Embedding, PoolingPicksOrAveragesRows) {
    const std::vector<float> rows = {1, 2, 3, 4, 5, 6};  // three tokens of two values
    EXPECT_EQ(pool_embeddings(rows, 2, Pooling::None), rows);
    EXPECT_EQ(pool_embeddings(rows, 2, Pooling::Mean), (std::vector<float>{3, 4}));
    EXPECT_EQ(pool_embeddings(rows, 2, Pooling::Cls), (std::vector<float>{1, 2}));
    EXPECT_EQ(pool_embeddings(rows, 2, Pooling::Last), (std::vector<float>{5, 6}));
    EXPECT_THROW(pool_embeddings({1, 2, 3}, 2, Pooling::Mean), Error);
    EXPECT_EQ(parse_pooling("last", "--pooling"), Pooling::Last);
    try {
        parse_pooling("rank", "--pooling");
        FAIL() << "rank accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("--pooling: expected none, mean, cls or last, got 'rank'"));
    }
}

TEST(Embedding, NormalizationsAsLlamaCpp) {
    auto normalized = [](std::vector<float> v, int32_t norm) {
        normalize_embedding(v.data(), static_cast<int64_t>(v.size()), norm);
        return v;
    };
    const std::vector<float> v = {3, -4};
    EXPECT_EQ(normalized(v, -1), v);
    using ::testing::FloatNear;
    using ::testing::Pointwise;
    EXPECT_THAT(normalized(v, 0), Pointwise(FloatNear(1e-3f), {24570.0f, -32760.0f}));  // int16 range
    EXPECT_THAT(normalized(v, 1), Pointwise(FloatNear(1e-6f), {3.0f / 7, -4.0f / 7}));
    EXPECT_THAT(normalized(v, 2), Pointwise(FloatNear(1e-6f), {0.6f, -0.8f}));
    const auto p3 = normalized(v, 3);
    EXPECT_NEAR(std::pow(std::pow(std::abs(p3[0]), 3.0f) + std::pow(std::abs(p3[1]), 3.0f), 1.0f / 3),
                1.0f, 1e-6);
    EXPECT_EQ(normalized({0, 0}, 2), (std::vector<float>{0, 0}));
    EXPECT_THROW(normalized(v, -2), Error);
}

// The head multiplies exactly these rows: output.weight times each token's embedding is that
// token's logits (stories260K stores its head in F32).
TEST(Embedding, HeadOfTheEmbeddingsIsTheLogits) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    auto model = Model::load(path.string());
    const std::vector<int32_t> tokens = {1, 403, 407, 261, 378};
    Session session(model, SessionOptions{});
    const std::vector<float> embd = session.embed(tokens);
    session.reset();
    const std::vector<float> logits = session.decode(tokens, true);
    const auto n_embd = static_cast<size_t>(model->hparams().n_embd);
    const auto n_vocab = static_cast<size_t>(model->hparams().n_vocab);
    ASSERT_EQ(embd.size(), tokens.size() * n_embd);
    const auto* head = static_cast<const float*>(model->weight_data("output.weight"));
    ASSERT_NE(head, nullptr);
    for (size_t t = 0; t < tokens.size(); ++t) {
        std::vector<float> row(n_vocab);
        for (size_t v = 0; v < n_vocab; ++v) {
            double sum = 0.0;
            for (size_t i = 0; i < n_embd; ++i) sum += double(head[v * n_embd + i]) * embd[t * n_embd + i];
            row[v] = static_cast<float>(sum);
        }
        const std::vector<float> expected(logits.begin() + static_cast<std::ptrdiff_t>(t * n_vocab),
                                          logits.begin() + static_cast<std::ptrdiff_t>((t + 1) * n_vocab));
        EXPECT_LE(test::relative_row_error(row, expected), 1e-5) << "token " << t;
    }
    // embed_sequence starts from an empty cache and leaves it empty.
    session.decode({1, 300});
    const auto mean = embed_sequence(session, tokens, Pooling::Mean, -1);
    EXPECT_EQ(session.n_past(), 0);
    EXPECT_EQ(mean, pool_embeddings(embd, static_cast<int64_t>(n_embd), Pooling::Mean));
}

// The numbers after `label` in text start with `want`, each within a unit of its last
// printed decimal.
void expect_printed_values(const std::string& text, const std::string& label, const std::vector<double>& want) {
    const size_t at = text.find(label);
    ASSERT_NE(at, std::string::npos) << "no '" << label << "' in:\n" << text;
    std::istringstream in(text.substr(at + label.size()));
    for (size_t i = 0; i < want.size(); ++i) {
        double got = 0.0;
        ASSERT_TRUE(in >> got) << label << "value " << i;
        EXPECT_NEAR(got, want[i], 1.5e-6) << label << "value " << i;
    }
}

struct CliEmbedding : ::testing::Test {
    test::CommandResult llamux(std::vector<std::string> args) { return test::run_llamux(std::move(args)); }
};

// llama.cpp c392e50's llama-embedding on stories260K, `-p $'Once upon a time\nTom wanted'
// --pooling mean` (its default normalization: euclidean): the first values of both
// embeddings and their cosine similarity.
TEST_F(CliEmbedding, MeanPooledTextsAsLlamaCpp) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const auto r = llamux({"embedding", "-m", model.string(), "-p", "Once upon a time\nTom wanted",
                           "--pooling", "mean"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // The values as printed, to the last of their 6 decimals: another summation order (another
    // instruction set, LLAMUX_CPU_ISA) may round that digit the other way.
    expect_printed_values(r.out, "embedding 0: ", {-0.016423, -0.073029, -0.028503, -0.123006, 0.088161});
    expect_printed_values(r.out, "embedding 1: ", {0.040651, -0.027868, -0.025239, -0.032795, 0.009265});
    EXPECT_THAT(r.out, HasSubstr("cosine similarity matrix:\n\nOnce u Tom wa \n  1.00   0.74 Once upon \n"
                                 "  0.74   1.00 Tom wanted\n"));

    const auto j = llamux({"embedding", "-m", model.string(), "-p", "Once upon a time\nTom wanted",
                           "--pooling", "last", "--embd-output-format", "json"});
    ASSERT_EQ(j.exit_code, 0) << j.err;
    const auto doc = nlohmann::json::parse(j.out);
    ASSERT_EQ(doc["data"].size(), 2u);
    EXPECT_EQ(doc["object"], "list");
    EXPECT_EQ(doc["data"][1]["index"], 1);
    double norm = 0.0;
    for (double x : doc["data"][1]["embedding"]) norm += x * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
}

// Without pooling (llama.cpp's default for Llama models) one line per token.
TEST_F(CliEmbedding, TokenEmbeddingsAndBadFlags) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string m = model.string();
    const auto r = llamux({"embedding", "-m", m, "-p", "Once upon a time"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("embedding 4: "));
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("embedding 5: ")));
    EXPECT_THAT(r.out, HasSubstr(" ... "));

    const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
        {{"embedding", "-m", m, "-p", "x", "--pooling", "rank"}, "--pooling: expected none"},
        {{"embedding", "-m", m, "-p", "x", "--embd-normalize", "-3"}, "--embd-normalize: expected"},
        {{"embedding", "-m", m, "-p", "x", "--embd-output-format", "xml"}, "--embd-output-format"},
        {{"embedding", "-m", m, "-p", "x", "-c", "2"}, "do not fit the context of 2"},
    };
    for (const auto& [args, message] : bad) {
        const auto b = llamux(args);
        EXPECT_EQ(b.exit_code, 1) << message;
        EXPECT_THAT(b.err, HasSubstr(message));
    }
}

}  // namespace
}  // namespace llamux
