// llama.cpp main's reverse prompts (-r TEXT): generation ends (or, interactive, hands the
// turn to the user) once the text ends with one of them (the text keeps it). As main does,
// the last 32 tokens' texts (prompt included) are searched for the reverse prompt ending at
// most 2 bytes before their end (0 when interactive), and a reverse prompt that is one
// token also matches that token.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "llamux/tokenizer.hpp"

namespace llamux::tools {

class ReversePrompts {
public:
    // Keeps a reference to the tokenizer, which must outlive it. `prompt`: the evaluated
    // prompt tokens, the start of the searched window.
    ReversePrompts(const Tokenizer& tokenizer, std::vector<std::string> texts,
                   const std::vector<int32_t>& prompt, bool interactive = false);
    // A token was generated: does the text now end with a reverse prompt?
    bool push(int32_t token);
    // Does the text end with one already (a prompt that ends with it: main generates
    // nothing then, or, interactive, reads the user's input first)?
    bool matches() const;
    // The searched window restarts with these tokens (an interactive turn's input: main's
    // sampler forgets what came before it).
    void restart(const std::vector<int32_t>& tokens);

private:
    const Tokenizer& tokenizer_;
    std::vector<std::string> texts_;
    size_t slack_bytes_;                  // text allowed after the reverse prompt
    std::vector<int32_t> single_tokens_;  // reverse prompts that are one token
    std::deque<int32_t> recent_;          // the last 32 tokens
};

}  // namespace llamux::tools
