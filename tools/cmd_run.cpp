// llamux run: generate text the way llama.cpp's main does. stdout carries the prompt and
// the generated text, streamed; timings go to stderr.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>

#include "commands.hpp"
#include "display_flags.hpp"
#include "escapes.hpp"
#include "interactive_turns.hpp"
#include "llamux/error.hpp"
#include "llamux/generator.hpp"
#include "llamux/log.hpp"
#include "reverse_prompt.hpp"
#include "sampling_flags.hpp"
#include "session_flags.hpp"
#include "text_file.hpp"

namespace llamux::tools {
namespace {

struct RunFlags {
    SessionFlags session;
    std::string prompt;
    std::string prompt_file;
    int32_t n_predict = -1;
    int32_t n_keep = 0;
    bool no_context_shift = false;
    bool escapes = true;    // -e: llama.cpp's default
    bool no_escape = false;  // --no-escape
    std::string prompt_cache;  // --prompt-cache FILE
    bool prompt_cache_all = false;
    bool prompt_cache_ro = false;
    std::vector<std::string> reverse_prompts;  // -r
    SamplingFlags sampling;
    DisplayFlags display;
    InteractiveFlags interactive;
};

// llama.cpp main's --prompt-cache: the evaluated prompt's cache in a file, loaded by the
// next run so that a prompt starting the same way evaluates only what follows.
void load_prompt_cache(Session& session, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return;  // no file yet: this run makes it
    session.load_state(in, "--prompt-cache " + path);
}

void save_prompt_cache(Session& session, const std::string& path) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("--prompt-cache " + path + ": cannot write the file");
    session.save_state(out);
    out.close();
    if (!out) throw Error("--prompt-cache " + path + ": writing failed");
}

std::string cached_note(int32_t n_cached) {
    return n_cached > 0 ? " (" + std::to_string(n_cached) + " from the prompt cache)" : "";
}

std::string shifts_note(int32_t n_shifts) {
    if (n_shifts == 0) return "";
    return " | " + std::to_string(n_shifts) + (n_shifts == 1 ? " context shift" : " context shifts");
}

int run_generate(const RunFlags& f) {
    if (!f.prompt.empty() && !f.prompt_file.empty()) throw Error("-p and -f: give only one");
    if (f.n_predict < -2) {
        throw Error("-n: expected -1 (until end of text), -2 (until the context is full) or a "
                    "count >= 0, got " + std::to_string(f.n_predict));
    }
    // llama.cpp turns escapes into characters in the prompt (a file's too), the reverse
    // prompts and the DRY breakers, unless --no-escape.
    const bool escapes = f.escapes && !f.no_escape;
    const auto escaped = [&](const std::string& text) { return escapes ? process_escapes(text) : text; };
    const std::string prompt = escaped(f.prompt_file.empty() ? f.prompt : read_text_file(f.prompt_file));
    std::vector<std::string> reverse_prompts;
    for (const std::string& text : f.reverse_prompts) reverse_prompts.push_back(escaped(text));
    SamplingFlags sampling = f.sampling;
    for (std::string& text : sampling.dry_breakers) text = escaped(text);
    if (f.display.log_disable) set_log_level(spdlog::level::err);
    GenerateOptions options;
    options.n_predict = f.n_predict == -2 ? -1 : f.n_predict;
    options.context_shift = f.n_predict != -2 && !f.no_context_shift;
    options.n_keep = f.n_keep;

    const auto t0 = std::chrono::steady_clock::now();
    auto model = f.session.load_model();
    options.sampling = sampling.params(model->tokenizer().eos());
    options.grammar = sampling.grammar_constraint();
    Session session(model, f.session.session_options());
    const double load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    const Tokenizer& tok = model->tokenizer();
    // As main: control token texts in the prompt ("</s>") are those tokens.
    const std::vector<int32_t> tokens = tok.encode(prompt, tok.add_bos(), true);
    if (!f.prompt_cache.empty()) {
        load_prompt_cache(session, f.prompt_cache);
        options.reuse_cache = true;
        if (!f.prompt_cache_ro) options.after_prompt = [&] { save_prompt_cache(session, f.prompt_cache); };
    } else if (f.prompt_cache_all || f.prompt_cache_ro) {
        throw Error("--prompt-cache-all and --prompt-cache-ro: expected --prompt-cache FILE too");
    }

    f.display.show_prompt_tokens(tok, prompt, tokens);
    f.display.show_prompt(prompt, tok, tokens);
    const bool interactive = f.interactive.enabled();
    ReversePrompts reverse(tok, reverse_prompts, tokens, interactive);
    std::optional<InterruptToUser> interrupt;
    if (interactive) interrupt.emplace();
    TurnOutput out(tok, f.display, reverse, interrupt ? &*interrupt : nullptr);
    // A prompt that already ends with a reverse prompt: main samples nothing (and, when
    // interactive, reads the user's input first, as with -if).
    if (reverse.matches() || f.interactive.first) options.n_predict = 0;
    GenerateStats stats = generate(session, tokens, options, [&](int32_t token) { return out.on_token(token); });
    out.end_turn(stats);
    if (interactive) {
        InteractiveSetup setup{f.interactive, reverse_prompts, f.n_predict, escapes};
        setup.flags.prefix = escaped(setup.flags.prefix);
        setup.flags.suffix = escaped(setup.flags.suffix);
        run_interactive_turns(session, options, stats, out, setup, f.display, *interrupt);
    }
    if (f.prompt_cache_all && !f.prompt_cache_ro) save_prompt_cache(session, f.prompt_cache);

    if (f.display.no_perf || f.display.log_disable) return 0;
    auto rate = [](int32_t n, double ms) { return ms > 0 ? 1000.0 * n / ms : 0.0; };
    std::fprintf(stderr,
                 "\nllamux: load %.1f ms | prompt %d tokens%s, %.1f ms, %.2f t/s | "
                 "generation %d tokens, %.1f ms, %.2f t/s%s%s\n",
                 load_ms, stats.n_prompt, cached_note(stats.n_cached).c_str(), stats.prompt_ms,
                 rate(stats.n_prompt - stats.n_cached, stats.prompt_ms),
                 stats.n_generated, stats.generate_ms, rate(stats.n_generated, stats.generate_ms),
                 shifts_note(stats.n_shifts).c_str(), stats.context_full ? " | context full" : "");
    return 0;
}

}  // namespace

void add_run_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = root.add_subcommand("run", "Generate text from a prompt (llama.cpp main's flags)");
    flags->session.add_to(*cmd);
    cmd->add_option("-p,--prompt", flags->prompt, "Prompt text");
    cmd->add_option("-f,--file", flags->prompt_file, "Read the prompt from a file");
    cmd->add_option("-n,--n-predict,--predict", flags->n_predict,
                    "Tokens to generate (-1: until end of text, -2: until the context is full)");
    cmd->add_option("--keep", flags->n_keep,
                    "Prompt tokens a context shift keeps, BOS not counted (-1: the whole prompt)");
    cmd->add_flag("--no-context-shift", flags->no_context_shift,
                  "Stop at a full context instead of dropping half of the unkept tokens");
    cmd->add_flag("-e,--escape", flags->escapes,
                  "Process escapes (\\n, \\r, \\t, \\', \\\", \\\\, \\xNN) in the prompt, -r and DRY breakers (the default)");
    cmd->add_flag("--no-escape", flags->no_escape, "Take the prompt, -r and DRY breakers as written");
    cmd->add_option("-r,--reverse-prompt", flags->reverse_prompts,
                    "Stop (with -i: hand the turn to the user) once the text ends with this (kept in the text); repeatable");
    cmd->add_option("--prompt-cache", flags->prompt_cache,
                    "Keep the evaluated prompt's cache in this file and reuse what a later prompt shares with it");
    cmd->add_flag("--prompt-cache-all", flags->prompt_cache_all,
                  "Save the generated tokens in the prompt cache too");
    cmd->add_flag("--prompt-cache-ro", flags->prompt_cache_ro, "Use the prompt cache without updating it");
    flags->sampling.add_to(*cmd);
    flags->display.add_to(*cmd);
    flags->interactive.add_to(*cmd);
    cmd->callback([flags, &run] { run = [flags] { return run_generate(*flags); }; });
}

}  // namespace llamux::tools
