// llamux perplexity: a model's perplexity on a text file, as llama.cpp's perplexity tool
// computes and prints it (the running value per chunk, then "Final estimate: PPL = ...").
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/perplexity.hpp"
#include "session_flags.hpp"
#include "text_file.hpp"

namespace llamux::tools {
namespace {

struct PerplexityFlags {
    SessionFlags session;
    std::string text_file;
    int32_t n_chunks = -1;
};

int run_perplexity(const PerplexityFlags& f) {
    if (f.n_chunks < -1 || f.n_chunks == 0) {
        throw Error("--chunks: expected -1 (all) or a count >= 1, got " + std::to_string(f.n_chunks));
    }
    const std::string text = read_text_file(f.text_file);
    SessionOptions options = f.session.session_options();
    if (options.n_ctx == 0) options.n_ctx = 512;  // llama.cpp's usual chunk size for this
    PerplexityOptions ppl_options{options.n_ctx, f.n_chunks};

    auto model = f.session.load_model();
    const Tokenizer& tok = model->tokenizer();
    const std::vector<int32_t> tokens = tok.encode(text, tok.add_bos());
    Session session(model, options);

    const auto t0 = std::chrono::steady_clock::now();
    const PerplexityResult r = perplexity(session, tokens, ppl_options, [](int32_t chunk, double ppl) {
        std::printf("[%d]%.4f,", chunk + 1, ppl);
        std::fflush(stdout);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_error);
    std::fprintf(stderr, "llamux: %zu tokens, %d chunks of %d, %lld predictions scored, %.2f s (%.1f t/s)\n",
                 tokens.size(), r.n_chunks, options.n_ctx, static_cast<long long>(r.n_scored), seconds,
                 seconds > 0 ? double(r.n_chunks) * options.n_ctx / seconds : 0.0);
    return 0;
}

}  // namespace

void add_perplexity_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<PerplexityFlags>();
    auto* cmd = root.add_subcommand(
        "perplexity", "Perplexity on a text file, as llama.cpp's perplexity tool (-c: chunk size, default 512)");
    flags->session.add_to(*cmd);
    cmd->add_option("-f,--file", flags->text_file, "Text file to score")->required();
    cmd->add_option("--chunks", flags->n_chunks, "Score at most this many chunks (-1: all)");
    cmd->callback([flags, &run] { run = [flags] { return run_perplexity(*flags); }; });
}

}  // namespace llamux::tools
