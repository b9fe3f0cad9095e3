#include "display_flags.hpp"

#include <cstdio>

#include "write_out.hpp"

namespace llamux::tools {
namespace {

// llama.cpp's console colors (common/console.cpp): the prompt yellow, then back to default.
constexpr const char* kPromptColor = "\x1b[33m";
constexpr const char* kResetColor = "\x1b[0m";
constexpr const char* kUserInputColor = "\x1b[1m\x1b[32m";

// A token as llama.cpp prints it with its special texts: control tokens as their text.
std::string token_text(const Tokenizer& tok, int32_t id) {
    return tok.type(id) == TokenType::Control ? tok.piece(id) : tok.token_to_bytes(id);
}

}  // namespace

void DisplayFlags::add_to(CLI::App& cmd) {
    cmd.add_flag("--color", color, "-co: show the prompt in color (ANSI escapes), as llama.cpp does");
    cmd.add_flag("--no-display-prompt", no_display_prompt, "Print the generated text only, not the prompt");
    cmd.add_flag("--verbose-prompt", verbose_prompt, "List the prompt's tokens on stderr before generating");
    cmd.add_flag("--special", special, "-sp: print control tokens (</s>) as their text");
    cmd.add_flag("--no-perf", no_perf, "No timing line at the end");
    cmd.add_flag("--log-disable", log_disable, "Print nothing on stderr but errors (no warnings, no timings)");
    cmd.add_flag("--simple-io", simple_io, "Accepted for llama.cpp's sake (llamux's console is always simple)");
    cmd.add_flag("--no-conversation", no_conversation,
                 "-no-cnv: accepted for llama.cpp's sake (run never converses; see llamux chat)");
    cmd.add_flag("--no-warmup", no_warmup, "Accepted for llama.cpp's sake (run makes no warm-up pass)");
}

void DisplayFlags::show_prompt(const std::string& prompt, const Tokenizer& tok,
                               const std::vector<int32_t>& tokens) const {
    if (no_display_prompt) return;
    std::string text = prompt;
    if (special) {
        text.clear();
        for (const int32_t id : tokens) text += token_text(tok, id);
    }
    write_out(color ? kPromptColor + text + kResetColor : text);
}

void DisplayFlags::show_prompt_tokens(const Tokenizer& tok, const std::string& prompt,
                                      const std::vector<int32_t>& tokens) const {
    if (!verbose_prompt) return;
    std::fprintf(stderr, "prompt: '%s'\nnumber of tokens in prompt = %zu\n", prompt.c_str(), tokens.size());
    for (const int32_t id : tokens) {
        std::fprintf(stderr, "%6d -> '%s'\n", id, token_text(tok, id).c_str());
    }
    std::fprintf(stderr, "\n");
}

void DisplayFlags::begin_user_input() const {
    if (color) write_out(kUserInputColor);
}

void DisplayFlags::end_user_input() const {
    if (color) write_out(kResetColor);
}

std::string DisplayFlags::control_text(const Tokenizer& tok, int32_t token) const {
    return special && tok.type(token) == TokenType::Control ? tok.piece(token) : std::string();
}

}  // namespace llamux::tools
