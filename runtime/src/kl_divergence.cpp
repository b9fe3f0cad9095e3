#include "llamux/kl_divergence.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "llamux/error.hpp"

namespace llamux {
namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
// Log-probabilities more than this below the top are stored as the floor (0 in the file)
// and left out of the divergence, as llama.cpp does.
constexpr float kLogProbRange = 16.0f;

// Rounds to the nearest integer, ties to even, for values in [0, 2^22) (llama.cpp's
// nearest_int: the float sum with 1.5 * 2^23 puts the integer in the mantissa).
int32_t nearest_int(float value) {
    const float shifted = value + 12582912.0f;
    int32_t bits = 0;
    std::memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

template <typename T>
void write_value(std::ostream& out, const T& value) {
    out.write(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
void read_values(std::istream& in, T* values, size_t count, const std::string& source, const std::string& what) {
    in.read(reinterpret_cast<char*>(values), static_cast<std::streamsize>(count * sizeof(T)));
    if (!in) throw Error(source + ": truncated: cannot read " + what);
}

// {mean, standard error of the mean} from a sum and a sum of squares (llama.cpp's rule:
// no error below 11 values).
std::pair<double, double> mean_and_uncertainty(double sum, double sum2, int64_t count) {
    if (count < 1) return {0.0, 0.0};
    const double mean = sum / double(count);
    const double var = sum2 / double(count) - mean * mean;
    return {mean, var > 0 && count > 10 ? std::sqrt(var / double(count - 1)) : 0.0};
}

double covariance(double sum_a, double sum_b, double sum_ab, int64_t count) {
    if (count < 10) return 0.0;
    const double n = double(count);
    return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

// Compares one prediction (the model's logits) with the base's stored row.
void compare_row(const float* logits, int32_t n_vocab, const uint16_t* base_row, int32_t token,
                 KlDivergenceResult& r) {
    int32_t top = 0;
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > max) {
            max = logits[i];
            top = i;
        }
    }
    double sum_exp = 0.0;
    for (int32_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max);
    const auto log_sum = static_cast<float>(std::log(sum_exp));
    float scale = 0.0f, offset = 0.0f;
    std::memcpy(&scale, base_row, sizeof scale);
    std::memcpy(&offset, base_row + 2, sizeof offset);
    const uint16_t* base = base_row + 4;

    const float nll = max + log_sum - logits[token];
    const float nll_base = -(scale * float(base[token]) + offset);
    // Products in float, as llama.cpp sums them.
    r.sum_nll += nll;
    r.sum_nll2 += nll * nll;
    r.sum_nll_base += nll_base;
    r.sum_nll_base2 += nll_base * nll_base;
    r.sum_nll_nll_base += nll * nll_base;

    // KL(base || model) = sum over the base's distribution of p_base (log p_base - log p).
    const float log_norm = max + log_sum;  // log p_i = logits[i] - log_norm
    double kld = 0.0;
    int32_t top_base = 0;
    float top_base_log_prob = 0.0f;
    for (int32_t i = 0; i < n_vocab; ++i) {
        const float log_prob_base = scale * float(base[i]) + offset;
        if (i == 0 || log_prob_base > top_base_log_prob) {
            top_base_log_prob = log_prob_base;
            top_base = i;
        }
        if (log_prob_base > -kLogProbRange) {
            kld += std::exp(log_prob_base) * (log_prob_base - logits[i] + log_norm);
        }
    }
    r.sum_kld += kld;
    r.sum_kld2 += kld * kld;
    r.kld_values.push_back(static_cast<float>(kld));
    ++r.count;
    if (top == top_base) ++r.n_same_top;

    const float p_diff = std::exp(-nll) - std::exp(-nll_base);
    r.sum_p_diff += p_diff;
    const double p_diff2 = p_diff * p_diff;
    r.sum_p_diff2 += p_diff2;
    r.sum_p_diff4 += p_diff2 * p_diff2;
    r.p_diff_values.push_back(p_diff);
}

struct BaseHeader {
    int32_t n_ctx = 0, n_vocab = 0, n_chunks = 0;
};

BaseHeader read_header(std::istream& in, const std::string& source) {
    char magic[sizeof kMagic] = {};
    in.read(magic, sizeof magic);
    if (!in || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
        throw Error(source + ": not a log-probability file (expected the magic \"_logits_\", as "
                    "llama-perplexity --kl-divergence-base or llamux perplexity --kl-divergence-base write)");
    }
    uint32_t n_ctx = 0;
    BaseHeader h;
    read_values(in, &n_ctx, 1, source, "the chunk size");
    read_values(in, &h.n_vocab, 1, source, "the vocabulary size");
    read_values(in, &h.n_chunks, 1, source, "the chunk count");
    if (n_ctx < 2 || n_ctx > (1u << 24)) {
        throw Error(source + ": chunk size " + std::to_string(n_ctx) + " is out of range (2..2^24)");
    }
    h.n_ctx = static_cast<int32_t>(n_ctx);
    if (h.n_vocab < 1 || h.n_chunks < 1) {
        throw Error(source + ": expected a vocabulary size and a chunk count >= 1, got " +
                    std::to_string(h.n_vocab) + " and " + std::to_string(h.n_chunks));
    }
    return h;
}

}  // namespace

int32_t log_prob_row_words(int32_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

void write_log_prob_header(std::ostream& out, int32_t n_ctx, int32_t n_vocab, int32_t n_chunks,
                           const std::vector<int32_t>& tokens) {
    out.write(kMagic, sizeof kMagic);
    write_value(out, static_cast<uint32_t>(n_ctx));
    write_value(out, n_vocab);
    write_value(out, n_chunks);
    out.write(reinterpret_cast<const char*>(tokens.data()),
              static_cast<std::streamsize>(size_t(n_chunks) * size_t(n_ctx) * sizeof(int32_t)));
    if (!out) throw Error("--kl-divergence-base: writing the file failed");
}

double write_log_prob_row(std::ostream& out, const float* logits, int32_t n_vocab, int32_t token) {
    float max = logits[0], min = logits[0];
    for (int32_t i = 1; i < n_vocab; ++i) {
        max = std::max(max, logits[i]);
        min = std::min(min, logits[i]);
    }
    min = std::max(min, max - kLogProbRange);
    double sum_exp = 0.0;
    for (int32_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max);
    const auto log_sum = static_cast<float>(std::log(sum_exp));
    // Stored: log p_i = scale * q_i + offset, q_i in 0..65535, the floor at q = 0.
    const float offset = min - max - log_sum;
    const float scale = (max - min) / 65535.0f;
    std::vector<uint16_t> row(size_t(log_prob_row_words(n_vocab)), 0);
    std::memcpy(row.data(), &scale, sizeof scale);
    std::memcpy(row.data() + 2, &offset, sizeof offset);
    if (scale != 0.0f) {
        const float inv_scale = 1.0f / scale;
        for (int32_t i = 0; i < n_vocab; ++i) {
            if (logits[i] > min) row[size_t(i) + 4] = static_cast<uint16_t>(nearest_int(inv_scale * (logits[i] - min)));
        }
    }
    out.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(row.size() * sizeof(uint16_t)));
    if (!out) throw Error("--kl-divergence-base: writing the file failed");
    return max + log_sum - logits[token];
}

int32_t log_prob_file_chunk_size(std::istream& in, const std::string& source) {
    const int32_t n_ctx = read_header(in, source).n_ctx;
    in.clear();
    in.seekg(0);
    return n_ctx;
}

std::pair<double, double> KlDivergenceResult::ppl() const {
    const auto [mean, err] = mean_and_uncertainty(sum_nll, sum_nll2, count);
    return {std::exp(mean), std::exp(mean) * err};
}

std::pair<double, double> KlDivergenceResult::ppl_base() const {
    const auto [mean, err] = mean_and_uncertainty(sum_nll_base, sum_nll_base2, count);
    return {std::exp(mean), std::exp(mean) * err};
}

std::pair<double, double> KlDivergenceResult::log_ppl_ratio() const {
    const auto a = mean_and_uncertainty(sum_nll, sum_nll2, count);
    const auto b = mean_and_uncertainty(sum_nll_base, sum_nll_base2, count);
    const double cov = covariance(sum_nll, sum_nll_base, sum_nll_nll_base, count);
    const double var = a.second * a.second + b.second * b.second - 2.0 * cov;
    return {a.first - b.first, std::sqrt(std::max(var, 0.0))};
}

double KlDivergenceResult::log_ppl_correlation() const {
    const auto a = mean_and_uncertainty(sum_nll, sum_nll2, count);
    const auto b = mean_and_uncertainty(sum_nll_base, sum_nll_base2, count);
    const double denom = a.second * b.second;
    return denom > 0 ? covariance(sum_nll, sum_nll_base, sum_nll_nll_base, count) / denom : 0.0;
}

std::pair<double, double> KlDivergenceResult::ppl_ratio() const {
    const auto [log_ratio, err] = log_ppl_ratio();
    return {std::exp(log_ratio), std::exp(log_ratio) * err};
}

std::pair<double, double> KlDivergenceResult::ppl_difference() const {
    const auto [p, p_err] = ppl();
    const auto [b, b_err] = ppl_base();
    const double cov = p * b * covariance(sum_nll, sum_nll_base, sum_nll_nll_base, count);
    return {p - b, std::sqrt(std::max(p_err * p_err + b_err * b_err - 2.0 * cov, 0.0))};
}

std::pair<double, double> KlDivergenceResult::kld() const { return mean_and_uncertainty(sum_kld, sum_kld2, count); }

std::pair<double, double> KlDivergenceResult::p_diff() const {
    return mean_and_uncertainty(sum_p_diff, sum_p_diff2, count);
}

std::pair<double, double> KlDivergenceResult::p_diff_rms() const {
    const auto [mse, err] = mean_and_uncertainty(sum_p_diff2, sum_p_diff4, count);
    const double rms = std::sqrt(mse);
    return {rms, rms > 0 ? 0.5 / rms * err : 0.0};
}

std::pair<double, double> KlDivergenceResult::same_top() const {
    if (count < 2) return {count == 1 ? double(n_same_top) : 0.0, 0.0};
    const double p = double(n_same_top) / double(count);
    return {p, std::sqrt(p * (1.0 - p) / double(count - 1))};
}

float percentile(const std::vector<float>& sorted, float fraction) {
    if (sorted.empty()) return 0.0f;
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    float p = fraction * float(sorted.size() - 1);
    const auto i = static_cast<size_t>(p);
    p -= float(i);
    return (1 - p) * sorted[i] + p * sorted[std::min(i + 1, sorted.size() - 1)];
}

KlDivergenceResult kl_divergence(Session& session, std::istream& base, const std::string& source,
                                 const KlDivergenceOptions& options,
                                 const std::function<void(const KlDivergenceResult&)>& on_chunk) {
    const BaseHeader h = read_header(base, source);
    const Tokenizer& tok = session.model().tokenizer();
    if (h.n_vocab != tok.n_vocab()) {
        throw Error(source + ": made with a vocabulary of " + std::to_string(h.n_vocab) + " tokens, this model has " +
                    std::to_string(tok.n_vocab()));
    }
    if (h.n_ctx > session.n_ctx()) {
        throw Error(source + ": made with chunks of " + std::to_string(h.n_ctx) +
                    " tokens, more than this session's context of " + std::to_string(session.n_ctx()) +
                    " (raise -c)");
    }
    std::vector<int32_t> tokens(size_t(h.n_chunks) * size_t(h.n_ctx));
    read_values(base, tokens.data(), tokens.size(), source, "the text's tokens");
    for (const int32_t t : tokens) {
        if (t < 0 || t >= h.n_vocab) {
            throw Error(source + ": token " + std::to_string(t) + " is outside the vocabulary (0.." +
                        std::to_string(h.n_vocab - 1) + ")");
        }
    }
    const int32_t n_chunks = options.n_chunks < 0 ? h.n_chunks : std::min(options.n_chunks, h.n_chunks);
    const int32_t first = h.n_ctx / 2;
    const int32_t n_scored = h.n_ctx - 1 - first;
    const auto row_words = static_cast<size_t>(log_prob_row_words(h.n_vocab));
    std::vector<uint16_t> base_rows(size_t(n_scored) * row_words);

    KlDivergenceResult r;
    r.n_ctx = h.n_ctx;
    for (int32_t c = 0; c < n_chunks; ++c) {
        read_values(base, base_rows.data(), base_rows.size(), source,
                    "the log-probabilities of chunk " + std::to_string(c + 1));
        const auto begin = tokens.begin() + static_cast<std::ptrdiff_t>(c) * h.n_ctx;
        std::vector<int32_t> chunk(begin, begin + h.n_ctx);
        if (tok.add_bos()) chunk[0] = tok.bos();
        session.reset();
        const std::vector<float> logits = session.decode(chunk, true);
        for (int32_t j = 0; j < n_scored; ++j) {
            const size_t row = size_t(first + j);
            compare_row(logits.data() + row * size_t(h.n_vocab), h.n_vocab, base_rows.data() + size_t(j) * row_words,
                        chunk[row + 1], r);
        }
        r.n_chunks = c + 1;
        if (on_chunk) on_chunk(r);
    }
    return r;
}

}  // namespace llamux
