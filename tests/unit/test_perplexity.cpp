// Perplexity as llama.cpp computes it: against llama.cpp's own reference logits, the chunk
// layout (BOS at each chunk's start, second half scored), and the command line.
#include <gmock/gmock.h>

#include <cmath>
#include <fstream>

#include "llamux/error.hpp"
#include "llamux/perplexity.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

// Mean negative log-likelihood of the predictions rows[j] -> tokens[j + 1], j in [from, to).
double mean_nll(const std::vector<std::vector<float>>& rows, const std::vector<int32_t>& tokens,
                size_t from, size_t to) {
    double nll = 0;
    for (size_t j = from; j < to; ++j) {
        const auto& r = rows[j];
        const double max = *std::max_element(r.begin(), r.end());
        double sum = 0;
        for (float x : r) sum += std::exp(x - max);
        nll -= r[size_t(tokens[j + 1])] - max - std::log(sum);
    }
    return nll / double(to - from);
}

std::vector<std::vector<float>> split_rows(const std::vector<float>& all, size_t n_vocab) {
    std::vector<std::vector<float>> rows;
    for (size_t i = 0; i < all.size(); i += n_vocab) rows.emplace_back(all.begin() + long(i), all.begin() + long(i + n_vocab));
    return rows;
}

// The first chunk starts with the text's own BOS, so it is the reference's prompt evaluation:
// its scored half follows from llama.cpp's logits in the fixtures.
TEST(Perplexity, FirstChunkAgreesWithLlamaCppReferenceLogits) {
    for (const std::string name : {"stories260K-F32.lily-and-ben", "stories260K-F32.tom-wanted"}) {
        LLAMUX_FIXTURE(ref_path, "testdata/reference/" + name + ".json");
        LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
        const auto ref = test::load_reference(ref_path);
        const int32_t n_ctx = static_cast<int32_t>(ref.prompt_tokens.size() / 2);  // 6
        Session session(Model::load(model_path.string()), SessionOptions{});
        const PerplexityResult r = perplexity(session, ref.prompt_tokens, {n_ctx, 1});
        const double expected = std::exp(mean_nll(ref.logits, ref.prompt_tokens, size_t(n_ctx / 2), size_t(n_ctx - 1)));
        EXPECT_NEAR(r.ppl, expected, 1e-4 * expected) << name;
        EXPECT_EQ(r.n_chunks, 1);
        EXPECT_EQ(r.n_scored, n_ctx - 1 - n_ctx / 2);
    }
}

// Every chunk is evaluated from an empty cache with BOS in place of its first token, and
// only its second half counts; the total is the mean over all scored predictions.
TEST(Perplexity, ChunksStartWithBosAndScoreTheirSecondHalf) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    auto model = Model::load(model_path.string());
    const Tokenizer& tok = model->tokenizer();
    std::vector<int32_t> text = tok.encode("Once upon a time, there was a little girl named Lily. "
                                           "She loved to play outside in the park with her dog.", true);
    const int32_t n_ctx = 8;
    ASSERT_GE(text.size(), 3u * n_ctx);
    Session session(model, SessionOptions{});
    const PerplexityResult r = perplexity(session, text, {n_ctx, -1});
    ASSERT_EQ(r.n_chunks, static_cast<int32_t>(text.size() / n_ctx));

    double nll = 0;
    Session fresh(model, SessionOptions{});
    for (int32_t c = 0; c < r.n_chunks; ++c) {
        std::vector<int32_t> chunk(text.begin() + c * n_ctx, text.begin() + (c + 1) * n_ctx);
        chunk[0] = tok.bos();
        fresh.reset();
        const auto rows = split_rows(fresh.decode(chunk, true), size_t(tok.n_vocab()));
        nll += mean_nll(rows, chunk, n_ctx / 2, n_ctx - 1);
        EXPECT_NEAR(r.running[size_t(c)], std::exp(nll / (c + 1)), 1e-6 * r.running[size_t(c)]);
    }
    // 1e-6: the library takes llama.cpp's float differences inside log-softmax, this test
    // doubles; the same logits otherwise (same session shapes).
    EXPECT_NEAR(r.ppl, std::exp(nll / r.n_chunks), 1e-6 * r.ppl);
    EXPECT_GT(r.ppl_error, 0);
    EXPECT_EQ(r.n_scored, int64_t{r.n_chunks} * (n_ctx - 1 - n_ctx / 2));
}

TEST(Perplexity, ShortTextsAndOversizedChunksAreRefused) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    SessionOptions small;
    small.n_ctx = 16;
    Session session(Model::load(model_path.string()), small);
    const std::vector<int32_t> tokens(20, 300);
    try {
        perplexity(session, tokens, {16, -1});
        FAIL() << "a 20-token text was accepted for chunks of 16";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("tokenizes to 20 tokens"));
        EXPECT_THAT(e.what(), HasSubstr("needs at least 32"));
    }
    try {
        perplexity(session, std::vector<int32_t>(100, 300), {32, -1});
        FAIL() << "chunks larger than the context were accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("chunk size 32 exceeds the session's context of 16"));
    }
}

TEST(Perplexity, CommandLinePrintsRunningValuesAndTheFinalEstimate) {
    LLAMUX_FIXTURE(model_path, "models/stories260K.gguf");
    test::TempDir dir;
    const auto text = dir.path() / "text.txt";
    std::ofstream(text) << "Once upon a time, there was a little girl named Lily. She loved to play "
                           "outside in the park. One day, she saw a big, red ball.";
    auto r = test::run_command({test::llamux_exe().string(), "perplexity", "-m", model_path.string(),
                                "-f", text.string(), "-c", "8", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, ::testing::StartsWith("[1]"));
    EXPECT_THAT(r.out, HasSubstr("Final estimate: PPL = "));
    EXPECT_THAT(r.err, HasSubstr("chunks of 8"));

    r = test::run_command({test::llamux_exe().string(), "perplexity", "-m", model_path.string(), "-f",
                           (dir.path() / "missing.txt").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("-f: file not found: "));
    r = test::run_command({test::llamux_exe().string(), "perplexity", "-m", model_path.string(), "-f",
                           text.string(), "-c", "512"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("needs at least 1024"));
}

}  // namespace
}  // namespace llamux
