// `llamux run -i`: llama.cpp main's interactive mode. The texts are llama.cpp c392e50's
// (`llama-cli -no-cnv --simple-io -t 1 -c 256 <flags>` on stories260K, the same stdin) up
// to where llamux stops: main keeps generating after its stdin ends, llamux ends there, so
// each text ends with the --in-prefix printed for the read that found the end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "test_data.hpp"

namespace llamux {
namespace {

struct InteractiveCase {
    std::vector<std::string> flags;
    std::string input;
    std::string expected;
};

void expect_interactive(const std::vector<InteractiveCase>& cases) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    for (const InteractiveCase& c : cases) {
        std::vector<std::string> args = {"run", "-m", model.string(), "-t", "1", "-p", "Once upon a time"};
        if (std::find(c.flags.begin(), c.flags.end(), "-c") == c.flags.end()) args.insert(args.end(), {"-c", "256"});
        args.insert(args.end(), c.flags.begin(), c.flags.end());
        const test::CommandResult r = test::run_command([&] {
            args.insert(args.begin(), test::llamux_exe().string());
            return args;
        }(), c.input);
        std::string flags;
        for (const auto& f : c.flags) flags += f + " ";
        EXPECT_EQ(r.exit_code, 0) << flags << r.err;
        EXPECT_EQ(r.out, c.expected) << flags;
    }
}

const std::string kStart = "Once upon a time, there was a little girl named Lily";

TEST(Interactive, TurnsEndWhereMainsEnd) {
    expect_interactive({
        // -n tokens a turn; the typed tokens count against the next turn's budget.
        {{"--temp", "0", "-n", "16", "-i", "--in-prefix", "[U]"}, "Tom went home\n",
         kStart + ". She loved to play[U]One day, Lily's[U]"},
        // A reverse prompt hands the turn over; prefix and suffix printed around the input.
        {{"--temp", "0", "-n", "64", "-i", "-r", "Lily", "--in-prefix", "[U] ", "--in-suffix", "Bob:"},
         "She ran.\nThen/\n",
         kStart + "[U] Bob: \"Hi, Lily[U] Bob:\" replied. \"It's a special special to me.\"\nLily[U] "},
        // Typed tokens that spend the whole budget: main evaluates them and asks again.
        {{"--temp", "0", "-n", "12", "-i", "-r", "Lily", "--in-prefix", "[U]"}, "Tom\\\\n went\n",
         kStart + "[U][U]"},
        // ... and the next input goes on from there.
        {{"--temp", "0", "-n", "12", "-i", "-r", "Lily", "--in-prefix", "[U]"}, "Tom\\\\n went\nAnd then\n",
         kStart + "[U][U]\"Hello,[U]"},
        // At end of text: a newline, the first reverse prompt evaluated, the user's turn.
        {{"--temp", "0", "-n", "12", "-i", "--in-prefix", "[U]", "-l", "2+100", "-r", "User:"}, "Hi\nHo\n",
         "Once upon a time\n[U]\n[U]\n[U]"},
        {{"--temp", "0", "-n", "12", "-i", "--in-prefix", "[U]", "-l", "2+100", "-sp"}, "Hi\nHo\n",
         "<s> Once upon a time</s>\n[U]</s>\n[U]</s>\n[U]"},
        // Seeded sampling with penalties goes on as main's does across turns.
        {{"-s", "5", "--temp", "0.8", "--repeat-penalty", "1.3", "-n", "30", "-i", "--in-prefix", "[U]",
          "--in-suffix", "Bob:", "-r", "."},
         "Hi\nHo\n",
         kStart + " who loved to play with her dogs.[U]Bob: \"This[U]Bob:\" Lily said, \"Yes! As? It's a "
                  "secreet in the park[U]"},
    });
}

// Turns past a full context shift it as main does (llama.cpp takes -c in multiples of 32).
TEST(Interactive, ContextShiftsAcrossTurnsAsMains) {
    expect_interactive({
        {{"--temp", "0", "-n", "40", "-i", "--in-prefix", "[U]", "-c", "64"}, "Hi\nHo\nHa\n",
         kStart + ". She loved to play outside in the park. One day, she saw a big, red ball.[U]\"Hi, Mommy!\" "
                  "said Lily. \"I want to play with your ball.\"\n\"Yes, Mommy!\" said Lily.[U]\"Okay, Mommy,\" "
                  "said Lily.\n\"Of course, Lily. We can see the card and[U]\"Okay, Mommy,\" Lily said.\n\"Okay, "
                  "Mommy. We can see the card and m[U]"},
        {{"--temp", "0", "-n", "40", "-i", "--in-prefix", "[U]", "-c", "64", "--keep", "2"}, "Hi\nHo\nHa\n",
         kStart + ". She loved to play outside in the park. One day, she saw a big, red ball.[U]\"Hi, Mommy!\" "
                  "said Lily. \"I am Lily. What are you doing?\"\n\"I'm sorr[U]\"I'm sorry,\" said Lily.\n\"I'm "
                  "sorry,\" replied.\n\"It's[U]\"Okay,\" said Lily.\n\"I'm sorry,\" said her mom.\n\"Sure,\" "
                  "said Lily.\n\"I[U]"},
    });
}

TEST(Interactive, InputAsMainsConsoleReadsIt) {
    expect_interactive({
        // -if: the prompt is evaluated, then the user speaks first.
        {{"--temp", "0", "-n", "8", "-if", "--in-prefix", "[U]"}, "Hi\n", "Once upon a time[U]One day,[U]"},
        // An empty line hands the turn back without input.
        {{"--temp", "0", "-n", "8", "-i", "--in-prefix", "[U]"}, "\nTom\n",
         "Once upon a time, there was a little girl[U] named Lily. She loved to play[U]One day,[U]"},
        // A trailing backslash continues the input on the next line.
        {{"--temp", "0", "-n", "12", "-i", "--in-prefix", "[U]"}, "Sam\\\nand Tom\n",
         kStart + ". She[U]One day[U]"},
        // -mli: lines continue until one ends with a backslash; --in-prefix-bos.
        {{"--temp", "0", "-n", "12", "-i", "-mli", "--in-prefix", "[U]", "--in-prefix-bos"},
         "Sam\nand Tom\\\nx\n", kStart + ". She[U]One day[U]\"Hi, Lily!\" said Lily[U]"},
        {{"--temp", "0", "-n", "40", "-i", "--in-prefix", "[U]", "-l", "2+3", "-r", "girl"}, "Hi\n",
         "Once upon a time, there was a little girl[U]\"Hi, little girl[U]"},
    });
}

// A prompt that already ends with the reverse prompt: main generates nothing.
TEST(Interactive, PromptEndingWithTheReversePromptGeneratesNothing) {
    expect_interactive({
        {{"--temp", "0", "-r", "time"}, "", "Once upon a time"},
    });
}

}  // namespace
}  // namespace llamux
