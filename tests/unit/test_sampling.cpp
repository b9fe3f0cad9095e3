// The sampling chain: each step's effect on hand-made logits, the order and flag parsers,
// a token constraint, and seeded runs of `llamux run` against llama.cpp's main.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "llamux/error.hpp"
#include "llamux/model.hpp"
#include "llamux/sampler.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

SamplingParams greedy_chain() {
    SamplingParams p;
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1;
    return p;
}

std::multiset<int32_t> draws(Sampler& s, const std::vector<float>& logits, int n,
                             const std::vector<int32_t>& history = {}) {
    std::multiset<int32_t> seen;
    for (int i = 0; i < n; ++i) seen.insert(s.sample(logits, history));
    return seen;
}

TEST(SamplingChain, PenaltiesCountTheRecentTokens) {
    // Token 0 seen twice, token 1 once: 2/2 - (2*0.5 + 0.25) = -0.25 and
    // -1*2 - (0.5 + 0.25) = -2.75, below token 2's untouched 0.5.
    SamplingParams p = greedy_chain();
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    Sampler s(p);
    EXPECT_EQ(s.sample({2.0f, -1.0f, 0.5f}, {0, 0, 1}), 2);
    // Only the last repeat_last_n tokens count: token 0 falls out of a window of 1.
    p.repeat_last_n = 1;
    Sampler recent(p);
    EXPECT_EQ(recent.sample({2.0f, -1.0f, 0.5f}, {0, 0, 1}), 0);
    // At temperature 0 the penalties still apply, as in llama.cpp (the chain runs, then
    // the most likely survivor is taken).
    p.repeat_last_n = 64;
    p.frequency_penalty = p.presence_penalty = 0.0f;
    Sampler greedy(p);
    EXPECT_EQ(greedy.sample({2.0f, 1.5f}, {0}), 1);
}

TEST(SamplingChain, LogitBiasBansAndForces) {
    SamplingParams p = greedy_chain();
    p.logit_bias = {{0, -INFINITY}, {2, 0.75f}};
    Sampler s(p);
    EXPECT_EQ(s.sample({3.0f, 2.0f, 1.5f}, {}), 2);
    p.temperature = 1.0f;
    p.logit_bias = {{1, -INFINITY}};
    Sampler banned(p);
    EXPECT_EQ(draws(banned, {1.0f, 1.0f, 1.0f}, 200).count(1), 0u);
}

TEST(SamplingChain, TypicalKeepsTheTokensNearTheEntropy) {
    // p = 0.4, 0.22, 0.2, 0.18: entropy 1.330 nats; the surprises of 0.22 and 0.2 are
    // nearest it, and together they pass 0.3, so the most likely token goes.
    const std::vector<float> logits = {std::log(0.4f), std::log(0.22f), std::log(0.2f),
                                       std::log(0.18f)};
    SamplingParams p = greedy_chain();
    p.typical_p = 0.3f;
    Sampler s(p);
    EXPECT_EQ(s.sample(logits, {}), 1);
    p.temperature = 1.0f;
    Sampler drawn(p);
    const auto seen = draws(drawn, logits, 300);
    EXPECT_EQ(seen.count(0) + seen.count(3), 0u);
    EXPECT_GT(seen.count(2), 0u);
}

TEST(SamplingChain, XtcExcludesTheTopChoices) {
    // Every token above 0.1 but the least likely of them is dropped: only token 2 stays.
    SamplingParams p = greedy_chain();
    p.temperature = 1.0f;
    p.xtc_probability = 1.0f;
    p.xtc_threshold = 0.1f;
    Sampler s(p);
    const auto seen = draws(s, {std::log(0.5f), std::log(0.3f), std::log(0.2f)}, 50);
    EXPECT_EQ(seen.count(2), 50u);
}

TEST(SamplingChain, TopNSigmaZeroKeepsOnlyTheTop) {
    SamplingParams p = greedy_chain();
    p.temperature = 1.0f;
    p.top_n_sigma = 0.0f;
    Sampler s(p);
    EXPECT_EQ(draws(s, {0.1f, 0.3f, 0.2f}, 50).count(1), 50u);
}

TEST(SamplingChain, MirostatWithATinyTargetIsGreedy) {
    for (int32_t version : {1, 2}) {
        SamplingParams p = greedy_chain();
        p.temperature = 1.0f;
        p.mirostat = version;
        p.mirostat_tau = 0.01f;  // mu starts at 0.02 bits: only the top token is unsurprising enough
        Sampler s(p);
        EXPECT_EQ(draws(s, {0.5f, 0.4f, 0.3f, 0.2f, 0.1f}, 20).count(0), 20u) << "mirostat " << version;
    }
}

TEST(SamplingChain, SeedsRepeatAndDynamicTemperatureStaysInTheTop) {
    SamplingParams p;
    p.temperature = 0.8f;
    p.dynatemp_range = 0.5f;
    p.seed = 12;
    Sampler a(p), b(p);
    const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 1.9f, 0.5f, 1.0f};
    std::vector<int32_t> sa, sb;
    for (int i = 0; i < 40; ++i) {
        sa.push_back(a.sample(logits, {}));
        sb.push_back(b.sample(logits, {}));
    }
    EXPECT_EQ(sa, sb);
    EXPECT_EQ(a.seed(), 12u);
}

TEST(SamplingChain, DryPenalisesWhatWouldExtendARepeat) {
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    const auto model = Model::load(path.string());
    const Tokenizer& tok = model->tokenizer();
    const std::vector<int32_t> w = tok.encode("the was big and", false);  // one token a word
    ASSERT_EQ(w.size(), 4u);
    ASSERT_EQ(std::set<int32_t>(w.begin(), w.end()).size(), 4u);
    // "a b c d a b": c would make "a b c" a repeat of length 3 (2 tokens already repeat);
    // d, the runner-up, repeats nothing.
    const std::vector<int32_t> history = {w[0], w[1], w[2], w[3], w[0], w[1]};
    std::vector<float> logits(size_t(tok.n_vocab()), 0.0f);
    logits[size_t(w[2])] = 1.0f;
    logits[size_t(w[3])] = 0.5f;
    SamplingParams p = greedy_chain();
    EXPECT_EQ(Sampler(p, &tok).sample(logits, history), w[2]);
    p.dry_multiplier = 0.6f;  // 1 - 0.6 * 1.75^(2 - 2) = 0.4 < 0.5
    EXPECT_EQ(Sampler(p, &tok).sample(logits, history), w[3]);
    p.dry_allowed_length = 3;  // a repeat of 2 goes free
    EXPECT_EQ(Sampler(p, &tok).sample(logits, history), w[2]);
    p.dry_allowed_length = 2;
    p.dry_penalty_last_n = 4;  // "c d a b": no repeat in view
    EXPECT_EQ(Sampler(p, &tok).sample(logits, history), w[2]);
    // A breaker in the repeated part ends it: with "was" (w[1]'s text, as llama.cpp
    // detokenizes one token: no leading space) a breaker, nothing repeats after it.
    p.dry_penalty_last_n = -1;
    p.dry_sequence_breakers = {"was"};
    EXPECT_EQ(Sampler(p, &tok).sample(logits, history), w[2]);
    EXPECT_THROW(Sampler(p, nullptr), Error) << "DRY needs the vocabulary";
}

TEST(SamplingChain, BadParametersNameTheFlag) {
    SamplingParams p;
    p.mirostat = 3;
    try {
        Sampler s(p);
        FAIL() << "mirostat 3 accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("--mirostat: expected 0 (off), 1 or 2, got 3"));
    }
    p = SamplingParams{};
    p.logit_bias = {{-4, 1.0f}};
    EXPECT_THROW(check_sampling_params(p), Error);
    p = SamplingParams{};
    p.repeat_last_n = -2;
    EXPECT_THROW(check_sampling_params(p), Error);
}

TEST(SamplerOrder, NamesAndLettersAsLlamaCpp) {
    using S = SamplerStep;
    EXPECT_EQ(parse_sampler_names("penalties;dry;top_k;typ_p;top_p;min_p;xtc;temperature", "--samplers"),
              SamplingParams{}.order);
    EXPECT_EQ(parse_sampler_names("top-k;typical;nucleus;temp", "--samplers"),
              (std::vector<S>{S::TopK, S::TypicalP, S::TopP, S::Temperature}));
    EXPECT_EQ(parse_sampler_letters("edkypmxt", "--sampling-seq"),
              (std::vector<S>{S::Penalties, S::Dry, S::TopK, S::TypicalP, S::TopP, S::MinP, S::Xtc, S::Temperature}));
    try {
        parse_sampler_names("top_k;tfs_z", "--samplers");
        FAIL() << "tfs_z accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("--samplers: unknown sampler \"tfs_z\""));
    }
    EXPECT_THROW(parse_sampler_letters("kq", "--sampling-seq"), Error);
}

// Allows the tokens of one parity only, and records what it was told to accept.
struct ParityTokens : TokenConstraint {
    std::vector<int32_t>* accepted;
    size_t n_vocab;
    int32_t parity;
    ParityTokens(std::vector<int32_t>* a, size_t n, int32_t odd = 0) : accepted(a), n_vocab(n), parity(odd) {}
    bool allows(int32_t token) const override { return token % 2 == parity; }
    void allowed(std::vector<uint8_t>& mask) const override {
        mask.assign(n_vocab, 0);
        for (size_t i = size_t(parity); i < n_vocab; i += 2) mask[i] = 1;
    }
    void accept(int32_t token) override { accepted->push_back(token); }
};

TEST(SamplingChain, AConstraintLimitsTheDrawAndHearsTheChoice) {
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 2.5f, 0.0f};
    std::vector<int32_t> accepted;
    Sampler greedy(greedy_chain());
    greedy.set_constraint(std::make_unique<ParityTokens>(&accepted, logits.size()));
    EXPECT_EQ(greedy.sample(logits, {}), 2);
    SamplingParams p = greedy_chain();
    p.temperature = 1.0f;
    Sampler drawn(p);
    drawn.set_constraint(std::make_unique<ParityTokens>(&accepted, logits.size()));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(drawn.sample(logits, {}) % 2, 0);
    EXPECT_EQ(accepted.size(), 101u);
    for (int32_t t : accepted) EXPECT_EQ(t % 2, 0);
    // Nothing allowed: an error, not a token.
    std::vector<int32_t> none;
    Sampler stuck(p);
    stuck.set_constraint(std::make_unique<ParityTokens>(&none, 1, 1));
    EXPECT_THROW(stuck.sample({1.0f}, {}), Error);
}

// `llamux run` with llama.cpp's sampling flags gives the text llama.cpp c392e50's main
// gives on the same file and seed (`llama-cli -no-cnv -n 48 -t 1 -c 256 <flags>`). Both
// draw from logits that agree to about 1e-4, so the cases are ones where no draw falls
// within that of a boundary (also checked with the CPU plugin capped at avx2 and scalar).
TEST(SamplingCli, SeededRunsGiveLlamaCppMainsText) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_outputs({"run", "-m", model.string(), "-p", "Once upon a time", "-n", "48", "-t", "1", "-c", "256"}, {
        {{"-s", "42"},
         "Once upon a time, there was a little boy named Timmy. Timmy loved to play "
         "with his toys. He would jump and play with his toy cars. One day, Timmy's "
         "friend B"},
        {{"-s", "7", "--repeat-penalty", "1.3", "--frequency-penalty", "0.5", "--presence-penalty", "0.4"},
         "Once upon a time, there was a little boy named Timmy. He loved to play with "
         "his dogs and dance in the street. One day he went outstructionary for"},
        {{"-s", "3", "--mirostat", "1"},
         "Once upon a time, there was a little girl named Lily. She loved to crimp with "
         "her mommy and daddy. One day, she saw a bag of peaceful gar"},
        {{"-s", "3", "--mirostat", "2", "--mirostat-ent", "3"},
         "Once upon a time, there was a big, ancient boy named Tim. Tim loved to dance "
         "very much. One day, he found a little girl named Sue. She w"},
        {{"-s", "9", "--xtc-probability", "0.5", "--xtc-threshold", "0.1"},
         "Once upon a time, there was a little girl named Lily. She liked to play in "
         "her park. She saw a gum in her hair, asked her mom for a party with their c"},
        {{"-s", "5", "--dynatemp-range", "0.5"},
         "Once upon a time, there was a little girl named Lily. She loved to play with "
         "her friends and twist building her water. One day, she went to the store and "
         "saw"},
        {{"-s", "5", "--top-nsigma", "1.5"},
         "Once upon a time, there was a little girl named Lily. She loved to play "
         "outside in the sun. One day, while she was playing with her toys, she saw a "
         "big b"},
        {{"-s", "11", "--logit-bias", "13+3", "--logit-bias", "2-inf"},
         "Once upon a time, there was a little girl named Lily. She loved to eat chairs "
         "with her mommy. One day, while she was playing outside, she saw a big"},
        {{"-s", "4", "--temp", "0", "--repeat-penalty", "1.5"},
         "Once upon a time, there was a little girl named Lily. She loved to play "
         "outside in the park with her friends and daddy would spray on it every day. "
         "One"},
        {{"-s", "4", "--samplers", "top_k;temperature;min_p"},
         "Once upon a time, there was a big, interesting block. It was a blue bug. He "
         "liked to play with the bugs, but the bug was very"},
        {{"-s", "4", "--sampling-seq", "kt", "--temp", "1.5"},
         "Once upon a time there was a voices named Always wanted to run a little red "
         "ball bet to twist. One day, Allie decided"},
        {{"-s", "42", "--dry-multiplier", "0.8"},
         "Once upon a time, there was a little boy named Timmy. Timmy loved to play "
         "with his toys. He would jump and play with his friends and run around. One day, he"},
        {{"-s", "9", "--dry-multiplier", "1", "--dry-sequence-breaker", ".", "--dry-sequence-breaker", ","},
         "Once upon a time, there was a little girl named Lily. She loved to play "
         "outside in the park. One day, she decided to read one that her favor"},
        {{"--temp", "0", "--dry-multiplier", "0.8", "--dry-allowed-length", "1"},
         "Once upon a time, there was a little girl named Lily. She loved to play "
         "outside in the park. One day, she saw a big, red ball. The ball was very scar"},
    });
}

TEST(SamplingCli, BadSamplingFlagsAreErrorsThatNameThem) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_flag_errors({"run", "-m", model.string(), "-p", "Once", "-n", "4"}, {
        {{"-l", "15043"}, "-l/--logit-bias: expected TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043+1), got \"15043\""},
        {{"--logit-bias", "x+1"}, "got \"x+1\""},
        {{"--logit-bias", "5+nan"}, "got \"5+nan\""},
        {{"--logit-bias", "512+1"}, "--logit-bias: token 512 is outside the vocabulary (0..511)"},
        {{"--mirostat", "4"}, "--mirostat: expected 0 (off), 1 or 2, got 4"},
        {{"--samplers", "top_k;bogus"}, "--samplers: unknown sampler \"bogus\""},
        {{"--sampling-seq", "kz"}, "--sampling-seq: unknown sampler letter 'z'"},
        {{"--dry-allowed-length", "-1"}, "--dry-allowed-length: expected a count >= 0, got -1"},
        {{"--dry-penalty-last-n", "-3"}, "--dry-penalty-last-n: expected -1 (all) or a count >= 0"},
    });
}

TEST(SamplingCli, IgnoreEosOutweighsAnyBias) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    // A large bias on end of text (id 2) ends the text at once; --ignore-eos bans it.
    const std::vector<std::string> base = {"run", "-m", model.string(), "-p", "Once upon a time",
                                           "-n", "20", "--temp", "0", "-l", "2+100"};
    const auto ends = test::run_llamux(base);
    ASSERT_EQ(ends.exit_code, 0) << ends.err;
    EXPECT_THAT(ends.err, HasSubstr("generation 0 tokens"));
    std::vector<std::string> ignoring = base;
    ignoring.push_back("--ignore-eos");
    const auto r = test::run_llamux(ignoring);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("generation 20 tokens"));
}

}  // namespace
}  // namespace llamux
