// The turns of `llamux run`: where generated tokens go (TurnOutput), and llama.cpp main's
// interactive loop that reads the user's input between turns (run_interactive_turns).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "display_flags.hpp"
#include "interactive.hpp"
#include "llamux/generator.hpp"
#include "reverse_prompt.hpp"

namespace llamux::tools {

// A run's generated tokens on their way to stdout: decoded, shown as the display flags say,
// watched for reverse prompts and (interactive) Ctrl-C. Keeps references to everything it
// is given, which must outlive it.
class TurnOutput {
public:
    TurnOutput(const Tokenizer& tok, const DisplayFlags& display, ReversePrompts& reverse,
               InterruptToUser* interrupt);
    // generate()'s on_token: prints the token; false when the turn ends with it.
    bool on_token(int32_t token);
    // Prints what the decoder still holds (and -sp's end of text).
    void end_turn(const GenerateStats& turn);
    // Forgets the last token and a Ctrl-C that came between turns.
    void start_turn();
    int32_t last() const { return last_; }  // the turn's last token; -1 before any

    ReversePrompts& reverse() { return reverse_; }

private:
    const Tokenizer& tok_;
    const DisplayFlags& display_;
    ReversePrompts& reverse_;
    InterruptToUser* interrupt_;
    StreamDecoder decoder_;
    int32_t last_ = -1;
};

// What the interactive loop needs from the command line, escapes already processed.
struct InteractiveSetup {
    InteractiveFlags flags;
    std::vector<std::string> reverse_prompts;
    int32_t n_predict = -1;  // -n: each turn's budget (< 0: none)
    bool escapes = true;     // process escapes in typed input
};

// llama.cpp main's interactive loop after the first turn, whose stats `stats` holds (each
// later turn is added to them): the turn's last token is evaluated, then what the user types
// (with --in-prefix/--in-suffix), and generation goes on, until stdin ends or a context
// without shifts is full. `options` are the first turn's.
void run_interactive_turns(Session& session, GenerateOptions options, GenerateStats& stats, TurnOutput& out,
                           const InteractiveSetup& setup, const DisplayFlags& display, InterruptToUser& interrupt);

}  // namespace llamux::tools
