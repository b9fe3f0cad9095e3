// KL divergence from a base model, as llama.cpp's perplexity tool measures it: the base run's
// log-probability file (llama.cpp's format), the comparison's statistics, and bad files.
// (The file written here and llama-perplexity's for the same model and text have the same
// size, header and tokens; either tool reads the other's: checked by hand, docs/numerics.md.)
#include <gmock/gmock.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "llamux/error.hpp"
#include "llamux/kl_divergence.hpp"
#include "llamux/perplexity.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

const char* const kText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily's mom "
    "said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. Then she saw a "
    "little bird in the tree, and the bird sang a song about the sun and the sky.";

// The base run's file for `model` over kText in chunks of n_ctx.
std::string base_file(const std::string& model, int32_t n_ctx, PerplexityResult* result = nullptr) {
    auto m = Model::load(model);
    Session session(m, SessionOptions{});
    std::ostringstream out;
    PerplexityOptions options{n_ctx, -1};
    options.base_out = &out;
    const PerplexityResult r = perplexity(session, m->tokenizer().encode(kText, true), options);
    if (result) *result = r;
    return out.str();
}

KlDivergenceResult compare(const std::string& model, const std::string& base) {
    Session session(Model::load(model), SessionOptions{});
    std::istringstream in(base);
    return kl_divergence(session, in, "base.kld", {});
}

// A row holds scale and offset, then each log-probability in 16 bits above a floor 16 below
// the top; the returned value is the prediction's negative log-likelihood.
TEST(KlDivergence, RowsHoldLogProbabilitiesInSixteenBits) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 4.0f);
    for (const int32_t n_vocab : {1, 2, 7, 512, 32000}) {
        std::vector<float> logits(static_cast<size_t>(n_vocab));
        for (float& x : logits) x = dist(rng);
        std::ostringstream out;
        const int32_t token = n_vocab / 2;
        const double nll = write_log_prob_row(out, logits.data(), n_vocab, token);
        const std::string bytes = out.str();
        ASSERT_EQ(bytes.size(), size_t(log_prob_row_words(n_vocab)) * 2) << n_vocab;
        EXPECT_EQ(log_prob_row_words(n_vocab) % 2, 0);
        float scale = 0, offset = 0;
        std::memcpy(&scale, bytes.data(), 4);
        std::memcpy(&offset, bytes.data() + 4, 4);
        const float max = *std::max_element(logits.begin(), logits.end());
        double sum = 0;
        for (float x : logits) sum += std::exp(double(x) - max);
        for (int32_t i = 0; i < n_vocab; ++i) {
            uint16_t q = 0;
            std::memcpy(&q, bytes.data() + 8 + 2 * size_t(i), 2);
            const double exact = double(logits[size_t(i)]) - max - std::log(sum);
            if (exact < -16 - std::log(sum) + 1e-3) {
                EXPECT_LE(q, 1) << "below the floor";
                continue;
            }
            EXPECT_NEAR(scale * q + offset, exact, scale * 0.51 + 1e-5) << n_vocab << " " << i;
        }
        EXPECT_NEAR(nll, std::log(sum) + max - logits[size_t(token)], 1e-5);
    }
}

// The base run writes llama.cpp's header and one row per scored prediction, and its
// perplexity is the plain run's.
TEST(KlDivergence, BaseRunWritesTheHeaderTokensAndEveryScoredRow) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    PerplexityResult with_file;
    const std::string file = base_file(model.string(), 16, &with_file);
    auto m = Model::load(model.string());
    const std::vector<int32_t> tokens = m->tokenizer().encode(kText, true);
    Session session(m, SessionOptions{});
    const PerplexityResult plain = perplexity(session, tokens, {16, -1});
    EXPECT_NEAR(with_file.ppl, plain.ppl, 1e-5 * plain.ppl);

    const int32_t n_chunks = plain.n_chunks;
    ASSERT_EQ(file.substr(0, 8), "_logits_");
    uint32_t n_ctx = 0;
    int32_t n_vocab = 0, chunks = 0;
    std::memcpy(&n_ctx, file.data() + 8, 4);
    std::memcpy(&n_vocab, file.data() + 12, 4);
    std::memcpy(&chunks, file.data() + 16, 4);
    EXPECT_EQ(n_ctx, 16u);
    EXPECT_EQ(n_vocab, 512);
    EXPECT_EQ(chunks, n_chunks);
    std::vector<int32_t> stored(size_t(n_chunks) * 16);
    std::memcpy(stored.data(), file.data() + 20, stored.size() * 4);
    EXPECT_EQ(stored, std::vector<int32_t>(tokens.begin(), tokens.begin() + long(stored.size())));
    const size_t rows = size_t(n_chunks) * (16 - 1 - 8);
    EXPECT_EQ(file.size(), 20 + stored.size() * 4 + rows * size_t(log_prob_row_words(512)) * 2);
}

// A model against its own file: nothing but the 16-bit rounding between them.
TEST(KlDivergence, AModelAgainstItsOwnBaseDiffersOnlyByTheRounding) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    PerplexityResult base;
    const KlDivergenceResult r = compare(model.string(), base_file(model.string(), 16, &base));
    EXPECT_EQ(r.n_chunks, base.n_chunks);
    EXPECT_EQ(r.count, base.n_scored);
    EXPECT_NEAR(r.ppl().first, base.ppl, 1e-5 * base.ppl);
    EXPECT_NEAR(r.ppl_base().first, base.ppl, 1e-3 * base.ppl);
    EXPECT_LT(std::fabs(r.kld().first), 1e-5);
    EXPECT_EQ(r.same_top().first, 1.0);
    ASSERT_EQ(r.kld_values.size(), size_t(r.count));
    ASSERT_EQ(r.p_diff_values.size(), size_t(r.count));
}

// A quantized file against its F32 original: the divergence grows with coarser types, and
// the summary values hang together.
TEST(KlDivergence, CoarserQuantizationsDivergeMore) {
    LLAMUX_FIXTURE(f32, "models/synth/synth-tiny-F32.gguf");
    LLAMUX_FIXTURE(q8, "models/synth/synth-tiny-Q8_0.gguf");
    LLAMUX_FIXTURE(q2, "models/synth/synth-tiny-Q2_K.gguf");
    const std::string base = base_file(f32.string(), 32);
    const KlDivergenceResult r8 = compare(q8.string(), base);
    const KlDivergenceResult r2 = compare(q2.string(), base);
    EXPECT_GT(r8.kld().first, 0.0);
    EXPECT_GT(r2.kld().first, 10 * r8.kld().first);
    EXPECT_LE(r2.same_top().first, r8.same_top().first);
    double sum = 0;
    for (float v : r2.kld_values) sum += v;
    EXPECT_NEAR(r2.kld().first, sum / double(r2.count), 1e-6);
    EXPECT_NEAR(r2.ppl_ratio().first, r2.ppl().first / r2.ppl_base().first, 1e-9 * r2.ppl_ratio().first);
    EXPECT_NEAR(r2.ppl_difference().first, r2.ppl().first - r2.ppl_base().first, 1e-9);
    std::vector<float> sorted = r2.kld_values;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(percentile(sorted, 0.0f), sorted.front());
    EXPECT_EQ(percentile(sorted, 1.0f), sorted.back());
    EXPECT_LE(percentile(sorted, 0.5f), percentile(sorted, 0.99f));
}

TEST(KlDivergence, BadFilesAreErrorsThatNameThem) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string good = base_file(model.string(), 16);
    const auto expect_error = [&](const std::string& file_model, const std::string& bytes, const std::string& what) {
        try {
            compare(file_model, bytes);
            FAIL() << "accepted: " << what;
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr("base.kld: "));
            EXPECT_THAT(e.what(), HasSubstr(what));
        }
    };
    expect_error(model.string(), "GGUF and more bytes here", "not a log-probability file");
    expect_error(model.string(), good.substr(0, 14), "truncated: cannot read the vocabulary size");
    expect_error(model.string(), good.substr(0, 100), "truncated: cannot read the text's tokens");
    expect_error(model.string(), good.substr(0, good.size() - 10), "truncated: cannot read the log-probabilities of chunk");
    std::string other_vocab = good;
    const int32_t n_vocab = 32000;
    std::memcpy(other_vocab.data() + 12, &n_vocab, 4);
    expect_error(model.string(), other_vocab, "made with a vocabulary of 32000 tokens, this model has 512");
    std::string big = good;
    const uint32_t huge_ctx = 100000;
    std::memcpy(big.data() + 8, &huge_ctx, 4);
    expect_error(model.string(), big, "made with chunks of 100000 tokens, more than this session's context");
    std::string bad_token = good;
    const int32_t token = 9999;
    std::memcpy(bad_token.data() + 20, &token, 4);
    expect_error(model.string(), bad_token, "token 9999 is outside the vocabulary (0..511)");
}

TEST(KlDivergence, CommandLineWritesAndComparesAsLlamaPerplexity) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    LLAMUX_FIXTURE(f16, "models/stories260K-F16.gguf");
    test::TempDir dir;
    const auto text = dir.path() / "text.txt";
    std::ofstream(text) << kText << ' ' << kText << ' ' << kText;
    const std::string base = (dir.path() / "base.kld").string();
    const std::string exe = test::llamux_exe().string();
    auto r = test::run_command({exe, "perplexity", "-m", model.string(), "-f", text.string(), "-c", "32", "-t", "1",
                                "--kl-divergence-base", base});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("Final estimate: PPL = "));
    // No -c: the base's chunk size.
    r = test::run_command({exe, "perplexity", "-m", f16.string(), "-t", "1", "--kl-divergence-base", base,
                           "--kl-divergence"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* line : {"chunk             PPL               ln(PPL(Q)/PPL(base))", "====== Perplexity statistics ======",
                             "Mean PPL(Q)/PPL(base)         : ", "====== KL divergence statistics ======",
                             "Mean    KLD: ", "99.9%   KLD: ", "Median  KLD: ", " 5.0%   KLD: ",
                             "====== Token probability statistics ======", "RMS \u0394p    : ", "Same top p: "}) {
        EXPECT_THAT(r.out, HasSubstr(line));
    }
    const std::vector<std::pair<std::vector<std::string>, std::string>> errors = {
        {{"--kl-divergence"}, "--kl-divergence: expected --kl-divergence-base FILE"},
        {{"--kl-divergence", "--kl-divergence-base", base, "-f", text.string()}, "-f: --kl-divergence scores the text stored in"},
        {{"--kl-divergence", "--kl-divergence-base", (dir.path() / "none.kld").string()}, "cannot open the file"},
        {{"--kl-divergence", "--kl-divergence-base", text.string()}, "not a log-probability file"},
        {{}, "-f: expected the text file to score"},
    };
    for (const auto& [flags, message] : errors) {
        std::vector<std::string> args = {exe, "perplexity", "-m", model.string(), "-c", "32"};
        args.insert(args.end(), flags.begin(), flags.end());
        r = test::run_command(args);
        EXPECT_NE(r.exit_code, 0) << message;
        EXPECT_THAT(r.err, HasSubstr(message));
    }
}

}  // namespace
}  // namespace llamux
