// llamux chat: a conversation with a chat model on the terminal, as llama.cpp's conversation
// mode: each line read from stdin is a user message, the answer streams to stdout. The
// conversation is laid out in the model's chat format (llamux/chat.hpp) and the cache keeps
// what the previous turn evaluated, so each turn evaluates only its new part; when the
// conversation outgrows the context, its oldest exchanges are dropped.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "llamux/chat.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar_sampling.hpp"
#include "llamux/sampler.hpp"
#include "sampling_flags.hpp"
#include "session_flags.hpp"
#include "stop_text.hpp"
#include "write_out.hpp"

namespace llamux::tools {
namespace {

struct ChatFlags {
    SessionFlags session;
    SamplingFlags sampling;
    std::string system;
    std::string format;
    int32_t n_predict = -1;
};

// Streams one answer; returns its text (leading whitespace dropped, as the Python package
// does) and whether the context filled up before it ended.
std::pair<std::string, bool> answer(const ChatPrompt& prompt, Session& session, Sampler& sampler,
                                    const Tokenizer& tok, int32_t n_predict) {
    std::vector<float> logits = session.prefill(prompt.tokens);  // only what the cache lacks
    StreamDecoder decoder(tok);
    StopText text(prompt.stop_texts);
    bool leading = true;
    auto emit = [&](std::string chunk) {
        if (leading) {
            chunk.erase(0, chunk.find_first_not_of(" \t\n\r"));
            leading = chunk.empty();
        }
        write_out(chunk);
    };
    for (int32_t n = 0; n_predict < 0 || n < n_predict; ++n) {
        const int32_t token = sampler.sample(logits, session.tokens());
        const auto& ends = prompt.stop_tokens;
        if (token == tok.eos() || std::find(ends.begin(), ends.end(), token) != ends.end()) break;
        if (text.push(decoder.push(token))) break;
        emit(text.release());
        if (session.n_past() >= session.n_ctx()) {
            text.push(decoder.flush());
            emit(text.release(true));
            return {text.text(), true};
        }
        logits = session.decode({token});
    }
    text.push(decoder.flush());
    emit(text.release(true));
    std::string out = text.text();
    out.erase(0, out.find_first_not_of(" \t\n\r"));
    return {out, false};
}

// The prompt for the next answer, leaving room for it: while the conversation does not fit,
// the oldest exchange (a user message and its answer, after the system message) is dropped
// for good, as llama.cpp's conversation mode forgets the start of a long chat. Error when
// the last message alone does not fit.
ChatPrompt fitting_prompt(ChatFormat format, std::vector<ChatMessage>& messages, const Tokenizer& tok,
                          int32_t n_ctx, int32_t n_predict) {
    const int64_t room = n_predict > 0 ? std::min(n_predict, n_ctx / 2) : n_ctx / 4;
    const size_t first = !messages.empty() && messages[0].role == "system" ? 1 : 0;
    while (true) {
        ChatPrompt p = chat_prompt(format, messages, tok);
        if (static_cast<int64_t>(p.tokens.size()) + room <= n_ctx) return p;
        if (messages.size() < first + 3) {
            throw Error("context full: the conversation needs " + std::to_string(p.tokens.size()) +
                        " tokens and " + std::to_string(room) + " for the answer, the context holds " +
                        std::to_string(n_ctx) + " (raise -c)");
        }
        messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first),
                       messages.begin() + static_cast<std::ptrdiff_t>(first + 2));
        std::fprintf(stderr, "llamux chat: the oldest exchange was dropped to fit the context of %d tokens\n",
                     n_ctx);
    }
}

int run_chat(const ChatFlags& f) {
    if (f.n_predict < -1) {
        throw Error("-n: expected -1 (until the answer ends) or a count >= 0, got " + std::to_string(f.n_predict));
    }
    auto model = f.session.load_model();
    const SamplingParams sampling = f.sampling.params(model->tokenizer().eos());
    const auto grammar = f.sampling.grammar_constraint();
    const ChatFormat format = f.format.empty() ? detect_chat_format(model->file()) : parse_chat_format(f.format);
    Session session(model, f.session.session_options());
    const Tokenizer& tok = model->tokenizer();
    const bool interactive = isatty(STDIN_FILENO) != 0;
    if (interactive) {
        std::fprintf(stderr, "llamux chat: %s format; one message per line, end with Ctrl-D\n",
                     std::string(chat_format_name(format)).c_str());
    }

    std::vector<ChatMessage> messages;
    if (!f.system.empty()) messages.push_back({"system", f.system});
    Sampler sampler(sampling, &tok);
    std::shared_ptr<const GrammarVocab> vocab;  // built for the first answer
    std::string line;
    bool refused = false;  // a message did not fit: the exit status says so
    while (true) {
        if (interactive) std::fputs("> ", stderr);
        if (!std::getline(std::cin, line)) break;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        messages.push_back({"user", line});
        ChatPrompt prompt;
        try {
            prompt = fitting_prompt(format, messages, tok, session.n_ctx(), f.n_predict);
        } catch (const Error& e) {  // this message alone is too long: say so, take the next
            std::fprintf(stderr, "llamux chat: %s; message skipped\n", e.what());
            messages.pop_back();
            refused = true;
            continue;
        }
        if (grammar) {  // each answer is a text of the grammar on its own
            // (The format's end-of-turn tokens are the same for every answer.)
            if (!vocab) vocab = grammar_vocab(tok, prompt.stop_tokens);
            sampler.set_constraint(grammar_constraint(grammar, vocab));
        }
        const auto [text, context_full] = answer(prompt, session, sampler, tok, f.n_predict);
        write_out("\n");
        messages.push_back({"assistant", text});
        if (context_full) {
            std::fprintf(stderr, "llamux chat: the answer was cut at the context size (%d tokens)\n",
                         session.n_ctx());
        }
    }
    return refused ? 1 : 0;
}

}  // namespace

void add_chat_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<ChatFlags>();
    auto* cmd = root.add_subcommand("chat", "Talk with a chat model: one message per stdin line, answers on stdout");
    flags->session.add_to(*cmd);
    flags->sampling.add_to(*cmd);
    cmd->add_option("--system", flags->system, "System message that starts the conversation");
    cmd->add_option("--chat-format", flags->format, "llama-2, zephyr or chatml (default: from the file)");
    cmd->add_option("-n,--n-predict", flags->n_predict, "Tokens per answer at most (-1: until it ends)");
    cmd->callback([flags, &run] { run = [flags] { return run_chat(*flags); }; });
}

}  // namespace llamux::tools
