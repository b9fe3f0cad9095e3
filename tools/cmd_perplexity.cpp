// llamux perplexity: a model's perplexity on a text file, as llama.cpp's perplexity tool
// computes and prints it (the running value per chunk, then "Final estimate: PPL = ..."),
// and its KL divergence from a base model (--kl-divergence-base FILE written by the base
// run, --kl-divergence comparing another model with it), printed as llama.cpp prints them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/kl_divergence.hpp"
#include "llamux/perplexity.hpp"
#include "session_flags.hpp"
#include "text_file.hpp"

namespace llamux::tools {
namespace {

// "99.9%  ", " 5.0%  ": llama.cpp's labels of the percentiles.
std::string fraction_label(float f) {
    char label[16];
    std::snprintf(label, sizeof label, "%4.1f%%  ", 100.0 * f);
    return label;
}

struct PerplexityFlags {
    SessionFlags session;
    std::string text_file;
    int32_t n_chunks = -1;
    std::string base_file;       // --kl-divergence-base
    bool kl_divergence = false;  // --kl-divergence: compare with base_file
};

void print_kl_divergence_chunk(const KlDivergenceResult& r) {
    if (r.n_chunks == 1) {
        std::printf("\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                    "              \u0394p RMS            Same top p\n");
    }
    const auto [ppl, ppl_err] = r.ppl();
    const auto [ratio, ratio_err] = r.log_ppl_ratio();
    const auto [kld, kld_err] = r.kld();
    const auto [rms, rms_err] = r.p_diff_rms();
    const auto [top, top_err] = r.same_top();
    std::printf("%4d    %9.4lf \u00b1 %9.4lf    %10.5lf \u00b1 %10.5lf    %10.5lf \u00b1 %10.5lf    "
                "%6.3lf \u00b1 %6.3lf %%    %6.3lf \u00b1 %6.3lf %%\n",
                r.n_chunks, ppl, ppl_err, ratio, ratio_err, kld, kld_err, 100.0 * rms, 100.0 * rms_err,
                100.0 * top, 100.0 * top_err);
    std::fflush(stdout);
}

// The summary llama.cpp prints after a --kl-divergence run (not for fewer than 100
// predictions, as there).
void print_kl_divergence_summary(KlDivergenceResult r) {
    std::printf("\n");
    if (r.count < 100) return;
    std::sort(r.kld_values.begin(), r.kld_values.end());
    std::sort(r.p_diff_values.begin(), r.p_diff_values.end());
    const auto pm = [](const char* label, std::pair<double, double> v) {
        std::printf("%s: %10.6lf \u00b1 %10.6lf\n", label, v.first, v.second);
    };
    std::printf("====== Perplexity statistics ======\n");
    pm("Mean PPL(Q)                   ", r.ppl());
    pm("Mean PPL(base)                ", r.ppl_base());
    std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * r.log_ppl_correlation());
    pm("Mean ln(PPL(Q)/PPL(base))     ", r.log_ppl_ratio());
    pm("Mean PPL(Q)/PPL(base)         ", r.ppl_ratio());
    pm("Mean PPL(Q)-PPL(base)         ", r.ppl_difference());
    std::printf("\n====== KL divergence statistics ======\n");
    pm("Mean    KLD", r.kld());
    const std::vector<float>& kld = r.kld_values;
    std::printf("Maximum KLD: %10.6f\n", kld.back());
    for (const float f : {0.999f, 0.99f, 0.95f, 0.5f, 0.1f, 0.05f, 0.01f}) {
        std::printf("%s KLD: %10.6f\n", f == 0.5f ? "Median " : fraction_label(f).c_str(), percentile(kld, f));
    }
    std::printf("Minimum KLD: %10.6f\n", kld.front());
    std::printf("\n====== Token probability statistics ======\n");
    const auto [mean, mean_err] = r.p_diff();
    std::printf("Mean    \u0394p: %6.3lf \u00b1 %5.3lf %%\n", 100.0 * mean, 100.0 * mean_err);
    const std::vector<float>& dp = r.p_diff_values;
    std::printf("Maximum \u0394p: %6.3lf%%\n", 100.0 * dp.back());
    for (const float f : {0.999f, 0.99f, 0.95f, 0.9f, 0.75f, 0.5f, 0.25f, 0.1f, 0.05f, 0.01f, 0.001f}) {
        std::printf("%s \u0394p: %6.3lf%%\n", f == 0.5f ? "Median " : fraction_label(f).c_str(),
                    100.0 * percentile(dp, f));
    }
    std::printf("Minimum \u0394p: %6.3lf%%\n", 100.0 * dp.front());
    const auto [rms, rms_err] = r.p_diff_rms();
    std::printf("RMS \u0394p    : %6.3lf \u00b1 %5.3lf %%\n", 100.0 * rms, 100.0 * rms_err);
    const auto [top, top_err] = r.same_top();
    std::printf("Same top p: %6.3lf \u00b1 %5.3lf %%\n", 100.0 * top, 100.0 * top_err);
}

int run_kl_divergence(const PerplexityFlags& f) {
    if (f.base_file.empty()) throw Error("--kl-divergence: expected --kl-divergence-base FILE, the base run's file");
    if (!f.text_file.empty()) {
        throw Error("-f: --kl-divergence scores the text stored in " + f.base_file + "; give no -f");
    }
    std::ifstream in(f.base_file, std::ios::binary);
    if (!in) throw Error("--kl-divergence-base " + f.base_file + ": cannot open the file");
    SessionOptions options = f.session.session_options();
    if (options.n_ctx == 0) options.n_ctx = log_prob_file_chunk_size(in, f.base_file);  // the base's chunks
    auto model = f.session.load_model();
    Session session(model, options);
    const KlDivergenceResult r = kl_divergence(session, in, f.base_file, {f.n_chunks}, print_kl_divergence_chunk);
    print_kl_divergence_summary(r);
    return 0;
}

int run_perplexity(const PerplexityFlags& f) {
    if (f.n_chunks < -1 || f.n_chunks == 0) {
        throw Error("--chunks: expected -1 (all) or a count >= 1, got " + std::to_string(f.n_chunks));
    }
    if (f.kl_divergence) return run_kl_divergence(f);
    if (f.text_file.empty()) throw Error("-f: expected the text file to score");
    const std::string text = read_text_file(f.text_file);
    SessionOptions options = f.session.session_options();
    if (options.n_ctx == 0) options.n_ctx = 512;  // llama.cpp's usual chunk size for this
    PerplexityOptions ppl_options{options.n_ctx, f.n_chunks};
    std::ofstream base;
    if (!f.base_file.empty()) {
        base.open(f.base_file, std::ios::binary | std::ios::trunc);
        if (!base) throw Error("--kl-divergence-base " + f.base_file + ": cannot write the file");
        ppl_options.base_out = &base;
    }

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
    cmd->add_option("-f,--file", flags->text_file, "Text file to score");
    cmd->add_option("--chunks", flags->n_chunks, "Score at most this many chunks (-1: all)");
    cmd->add_option("--kl-divergence-base", flags->base_file,
                    "Write the base model's log-probabilities here (llama.cpp's format); with --kl-divergence: read them");
    cmd->add_flag("--kl-divergence", flags->kl_divergence,
                  "Compare this model with the --kl-divergence-base file's (its text, no -f): KL divergence, PPL ratio, top token");
    cmd->callback([flags, &run] { run = [flags] { return run_perplexity(*flags); }; });
}

}  // namespace llamux::tools
