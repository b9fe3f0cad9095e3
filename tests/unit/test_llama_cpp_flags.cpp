// llama.cpp command lines after `llamux run`: its multi-letter spellings and the flags its
// users pass out of habit work (or change nothing), flags of features llamux lacks are
// refused with the reason, and its escape, prompt and display rules hold as in llama.cpp
// c392e50's main (`llama-cli -no-cnv -t 1 -c 256`) on stories260K.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kPrompt = "Once upon a time";
const std::string kText = kPrompt + ", there was a little girl named Lily. She loved to play";

std::vector<std::string> base_run(const std::string& model) {
    return {"run", "-m", model, "-p", kPrompt, "-n", "16", "--temp", "0", "-t", "1", "-c", "256"};
}

TEST(LlamaCppFlags, SpellingsAndHabitsChangeNothing) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_outputs(base_run(model.string()), {
        {{}, kText},
        {{"-no-cnv"}, kText},
        {{"-fa"}, kText},
        {{"-fa", "on"}, kText},
        {{"-ub", "2"}, kText},
        {{"-tb", "1"}, kText},
        {{"-tb", "2"}, kText},  // prompts on two threads, generation on one: the same tokens
        {{"-sm", "layer"}, kText},
        {{"-mg", "0"}, kText},
        {{"-ngl", "0"}, kText},
        {{"--simple-io", "--no-warmup"}, kText},
        {{"--no-mmap"}, kText},
        {{"--mlock"}, kText},
        {{"-v"}, kText},  // the root's flag, after the subcommand
    });
}

TEST(LlamaCppFlags, FeaturesLlamuxLacksAreRefusedWithTheReason) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_flag_errors(base_run(model.string()), {
        {{"--lora", "a.gguf"}, "--lora: LoRA adapters and control vectors are not supported"},
        {{"-hf", "org/model"}, "-hf: llamux does not download models"},
        {{"-md", "draft.gguf"}, "-md: speculative decoding"},
        {{"-cnv"}, "-cnv (llama.cpp's --conversation): conversation mode is `llamux chat`"},
        {{"-nkvo"}, "-nkvo: not supported: an offloaded layer's KV cache lives on the GPU"},
        {{"-ts", "3,1"}, "-ts: llamux offloads to one GPU"},
        {{"--numa", "distribute"}, "--numa: NUMA placement is not supported"},
        {{"--port", "8080"}, "--port: a llama.cpp server flag"},
        {{"-mg", "1"}, "-mg: llamux uses the first visible GPU (0); got 1"},
        {{"-fa", "maybe"}, "-fa: expected on, off, auto, 1 or 0, got maybe"},
        {{"-sm", "row"}, "-sm: expected none or layer (llamux offloads to one GPU), got row"},
        {{"-ub", "-3"}, "-ub: expected a batch size >= 1, got -3"},
        // Not split into one-letter flags ("-n o-cnv"), as CLI11 alone would.
        {{"-xyz"}, "-xyz: unknown flag; `llamux run`'s single-dash flags are one letter"},
        {{"-t2"}, "-t2: unknown flag"},
    });
    // Other subcommands refuse what they do not take, naming where it lives.
    const auto r = test::run_llamux({"perplexity", "-m", model.string(), "-f", "x.txt", "-i"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_THAT(r.err, HasSubstr("-i: interactive mode is `llamux run -i`"));
    const auto e = test::run_llamux({"eval", "-m", model.string(), "-p", "x", "-sp"});
    EXPECT_NE(e.exit_code, 0);
    EXPECT_THAT(e.err, HasSubstr("-sp (llama.cpp's --special): `llamux eval` has no such flag"));
}

TEST(LlamaCppFlags, BenchTakesLlamaBenchsMmapAndFlashAttentionFlags) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    for (const std::vector<std::string>& extra : {std::vector<std::string>{"-mmp", "0"}, {"-fa", "1"}}) {
        std::vector<std::string> args = {"bench", "-m", model.string(), "-p", "0", "-n", "2", "-r", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = test::run_llamux(args);
        EXPECT_EQ(r.exit_code, 0) << extra[0] << ": " << r.err;
    }
}

// Escapes are processed by default in the prompt, -r and DRY breakers (--no-escape: not).
TEST(LlamaCppFlags, EscapesAreProcessedByDefault) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::vector<std::string> base = {"run", "-m", model.string(), "--temp", "0", "-t", "1", "-c", "256"};
    test::expect_outputs(base, {
        // llama-cli's text for the same flags.
        {{"-n", "16", "-p", "Once upon a\\ttime"}, "Once upon a\ttime, there was a little girl named Lily. She loved to play"},
        {{"-n", "16", "-p", "Once upon a time", "-r", "\\x4cily"}, "Once upon a time, there was a little girl named Lily"},
        {{"-n", "0", "-p", "Once upon a\\ttime", "--no-escape"}, "Once upon a\\ttime"},
        {{"-n", "0", "-p", "Once\\q"}, "Once\\q"},  // not an escape llama.cpp knows: kept
        {{"-n", "0", "-p", "A\\x4"}, "A\\x4"},      // incomplete: kept as written
    });
}

TEST(LlamaCppFlags, DisplayFlagsAsMainShowsTheText) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string generated = kText.substr(kPrompt.size());
    test::expect_outputs(base_run(model.string()), {
        {{"--no-display-prompt"}, generated},
        {{"-co"}, "\x1b[33m" + kPrompt + "\x1b[0m" + generated},
        // -sp: the prompt echoed token by token as main does, BOS and end of text as text.
        {{"-sp", "-l", "2+100"}, "<s> " + kPrompt + "</s>"},
    });
    // Control token texts in a prompt are those tokens, as in main.
    const auto control = test::run_llamux({"run", "-m", model.string(), "-p", "</s>", "-n", "0", "--verbose-prompt"});
    EXPECT_THAT(control.err, HasSubstr("number of tokens in prompt = 2\n     1 -> '<s>'\n     2 -> '</s>'\n"));
    const auto verbose = test::run_llamux([&] {
        auto a = base_run(model.string());
        a.push_back("--verbose-prompt");
        return a;
    }());
    EXPECT_THAT(verbose.err, HasSubstr("prompt: 'Once upon a time'\nnumber of tokens in prompt = 5\n"
                                       "     1 -> '<s>'\n   403 -> ' Once'\n"));
    auto quiet = base_run(model.string());
    quiet.insert(quiet.end(), {"--no-perf"});
    const auto no_perf = test::run_llamux(quiet);
    EXPECT_EQ(no_perf.out, kText);
    EXPECT_THAT(no_perf.err, Not(HasSubstr("llamux: load")));
    quiet.insert(quiet.end(), {"--log-disable", "-tb", "2"});
    const auto silent = test::run_llamux(quiet);
    EXPECT_EQ(silent.out, kText);
    EXPECT_EQ(silent.err, "");
}

}  // namespace
}  // namespace llamux
