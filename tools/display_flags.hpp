// How `llamux run` shows its text, with llama.cpp main's flags: colors, the prompt echo, the
// prompt's tokens, special tokens, the timing line, and the console flags llama.cpp users
// pass out of habit (accepted, no effect here).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "llamux/tokenizer.hpp"

namespace llamux::tools {

struct DisplayFlags {
    bool color = false;              // --color/-co: the prompt in yellow, as llama.cpp's console
    bool no_display_prompt = false;  // --no-display-prompt: generated text only
    bool verbose_prompt = false;     // --verbose-prompt: the prompt's tokens on stderr
    bool special = false;            // -sp/--special: control tokens (</s>) printed as their text
    bool no_perf = false;            // --no-perf: no timing line
    bool log_disable = false;        // --log-disable: nothing on stderr but errors
    // Accepted for llama.cpp's sake: llamux's console is always simple, `run` never converses,
    // and there is no warm-up run.
    bool simple_io = false, no_conversation = false, no_warmup = false;

    void add_to(CLI::App& cmd);

    // Echoes the prompt to stdout (unless --no-display-prompt), colored with --color. With
    // -sp, as main echoes it: token by token, control tokens as their text ("<s> Once...").
    void show_prompt(const std::string& prompt, const Tokenizer& tok, const std::vector<int32_t>& tokens) const;
    // --verbose-prompt's listing on stderr, as llama.cpp main prints it.
    void show_prompt_tokens(const Tokenizer& tok, const std::string& prompt,
                            const std::vector<int32_t>& tokens) const;
    // --color: the user's input in bold green, then back to default (llama.cpp's console).
    void begin_user_input() const;
    void end_user_input() const;
    // What a control token (end of text...) shows: its text with -sp, else nothing.
    std::string control_text(const Tokenizer& tok, int32_t token) const;
};

}  // namespace llamux::tools
