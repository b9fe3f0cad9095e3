// How far a model's predictions are from a base model's on the same text (a quantized file
// against its F16 original), as llama.cpp's perplexity tool measures it. The base run writes
// a log-probability file (llama.cpp's --kl-divergence-base: the text's tokens, then every
// scored prediction's log-probabilities in its 16-bit form); the other run reads it and
// compares prediction by prediction. The file format is llama.cpp's, so files move between
// the two tools.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "llamux/session.hpp"

namespace llamux {

// Values per scored prediction in the file: two floats (scale, offset) as four 16-bit words,
// then one word per vocabulary entry, the count rounded up to even.
int32_t log_prob_row_words(int32_t n_vocab);

// Writes the file's header: magic, n_ctx, n_vocab, n_chunks and the first n_chunks * n_ctx
// tokens of the text. Throws Error when writing fails.
void write_log_prob_header(std::ostream& out, int32_t n_ctx, int32_t n_vocab, int32_t n_chunks,
                           const std::vector<int32_t>& tokens);
// Appends one prediction's log-probabilities (log_prob_row_words words) and returns its
// negative log-likelihood for `token`, both computed as llama.cpp's base run computes them.
double write_log_prob_row(std::ostream& out, const float* logits, int32_t n_vocab, int32_t token);

// The chunk size a log-probability file was made with (the context a comparison needs).
// Reads the header and puts `in` back at its start; Error naming `source` as kl_divergence.
int32_t log_prob_file_chunk_size(std::istream& in, const std::string& source);

struct KlDivergenceOptions {
    int32_t n_chunks = -1;  // at most this many of the file's chunks; -1: all
};

// Sums over the predictions compared so far, and each prediction's KL divergence and
// probability difference (p - p_base of the right token).
struct KlDivergenceResult {
    int32_t n_ctx = 0;
    int32_t n_chunks = 0;  // compared so far
    int64_t count = 0;     // predictions compared
    int64_t n_same_top = 0;
    double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
    double sum_kld = 0, sum_kld2 = 0;
    double sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
    std::vector<float> kld_values, p_diff_values;

    // {value, uncertainty} as llama.cpp prints them.
    std::pair<double, double> ppl() const;
    std::pair<double, double> ppl_base() const;
    std::pair<double, double> log_ppl_ratio() const;  // ln(PPL / PPL(base))
    double log_ppl_correlation() const;               // of ln PPL and ln PPL(base)
    std::pair<double, double> ppl_ratio() const;
    std::pair<double, double> ppl_difference() const;
    std::pair<double, double> kld() const;
    std::pair<double, double> p_diff() const;
    std::pair<double, double> p_diff_rms() const;
    std::pair<double, double> same_top() const;  // fraction of predictions with the base's top token
};

// The value at `fraction` of sorted values, interpolated between neighbours (llama.cpp's).
float percentile(const std::vector<float>& sorted, float fraction);

// Reads the base's file from `base` (`source` names it in errors), evaluates each chunk of
// its text as perplexity() does and compares the scored predictions with the file's.
// on_chunk(result so far) is called after each chunk. Throws Error naming `source` for a
// file that is not such a file, is truncated, or was made for another vocabulary or a
// chunk larger than the session's context.
KlDivergenceResult kl_divergence(Session& session, std::istream& base, const std::string& source,
                                 const KlDivergenceOptions& options,
                                 const std::function<void(const KlDivergenceResult&)>& on_chunk = {});

}  // namespace llamux
