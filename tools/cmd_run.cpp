// llamux run: generate text the way llama.cpp's main does. stdout carries the prompt and
// the generated text, streamed; timings go to stderr.
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "escapes.hpp"
#include "llamux/error.hpp"
#include "llamux/generator.hpp"
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
    bool escapes = false;
    SamplingFlags sampling;
};

int run_generate(const RunFlags& f) {
    if (!f.prompt.empty() && !f.prompt_file.empty()) throw Error("-p and -f: give only one");
    if (f.n_predict < -1) {
        throw Error("-n: expected -1 (until end of text) or a count >= 0, got " +
                    std::to_string(f.n_predict));
    }
    std::string prompt = f.prompt_file.empty() ? f.prompt : read_text_file(f.prompt_file);
    if (f.escapes) prompt = process_escapes(prompt);
    GenerateOptions options;
    options.n_predict = f.n_predict;
    options.sampling = f.sampling.params();

    const auto t0 = std::chrono::steady_clock::now();
    auto model = Model::load(f.session.model_path());
    Session session(model, f.session.session_options());
    const double load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    const Tokenizer& tok = model->tokenizer();
    const std::vector<int32_t> tokens = tok.encode(prompt, tok.add_bos());

    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
    StreamDecoder decoder(tok);
    const GenerateStats stats = generate(session, tokens, options, [&](int32_t token) {
        const std::string text = decoder.push(token);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
    });
    const std::string rest = decoder.flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fflush(stdout);

    auto rate = [](int32_t n, double ms) { return ms > 0 ? 1000.0 * n / ms : 0.0; };
    std::fprintf(stderr,
                 "\nllamux: load %.1f ms | prompt %d tokens, %.1f ms, %.2f t/s | "
                 "generation %d tokens, %.1f ms, %.2f t/s%s\n",
                 load_ms, stats.n_prompt, stats.prompt_ms, rate(stats.n_prompt, stats.prompt_ms),
                 stats.n_generated, stats.generate_ms, rate(stats.n_generated, stats.generate_ms),
                 stats.context_full ? " | context full" : "");
    return 0;
}

}  // namespace

void add_run_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<RunFlags>();
    auto* cmd = root.add_subcommand("run", "Generate text from a prompt (llama.cpp main's flags)");
    flags->session.add_to(*cmd);
    cmd->add_option("-p,--prompt", flags->prompt, "Prompt text");
    cmd->add_option("-f,--file", flags->prompt_file, "Read the prompt from a file");
    cmd->add_option("-n,--n-predict", flags->n_predict,
                    "Tokens to generate (-1: until end of text or a full context)");
    cmd->add_flag("-e,--escape", flags->escapes, "Process escapes (\\n, \\t, \\\\, \\xNN ...) in the prompt");
    flags->sampling.add_to(*cmd);
    cmd->callback([flags, &run] { run = [flags] { return run_generate(*flags); }; });
}

}  // namespace llamux::tools
