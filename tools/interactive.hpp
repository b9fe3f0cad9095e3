// llama.cpp main's interactive mode for `llamux run` (-i, -if, --in-prefix, --in-suffix,
// --in-prefix-bos, -mli): generation hands the turn to the user at a reverse prompt, at end
// of text, when a turn's -n tokens are spent, or on Ctrl-C; what the user types (one line,
// or several with -mli or a trailing backslash) is evaluated and generation goes on.
// Unlike llama.cpp's main, the end of stdin ends the run (main keeps generating).
#pragma once

#include <CLI/CLI.hpp>

#include <istream>
#include <optional>
#include <string>

namespace llamux::tools {

struct InteractiveFlags {
    bool interactive = false;  // -i
    bool first = false;        // -if: the user speaks first, once the prompt is evaluated
    bool multiline = false;    // -mli: a line does not end the input; a trailing '\' does
    bool prefix_bos = false;   // --in-prefix-bos: BOS before each input
    std::string prefix;        // --in-prefix: before each input (printed and evaluated)
    std::string suffix;        // --in-suffix: after each input

    void add_to(CLI::App& cmd);
    bool enabled() const { return interactive || first; }
};

// One input as llama.cpp's simple console reads it: each line with its newline; a line
// ending in '\' switches between ending and continuing the input (so it continues by
// default, or ends it with -mli); a line ending in '/' ends the input without that '/' and
// newline. nullopt when stdin ended before anything was read.
std::optional<std::string> read_user_input(std::istream& in, bool multiline);

// Ctrl-C in interactive mode, as llama.cpp's main takes it: while text is generated it
// hands the turn to the user; while waiting for input it ends the program (exit 130).
// Installs its handler for its lifetime; one at a time.
class InterruptToUser {
public:
    InterruptToUser();
    ~InterruptToUser();
    InterruptToUser(const InterruptToUser&) = delete;
    InterruptToUser& operator=(const InterruptToUser&) = delete;

    bool take();                    // was Ctrl-C pressed since the last call?
    void set_waiting(bool waiting);  // true while reading the user's input
};

}  // namespace llamux::tools
