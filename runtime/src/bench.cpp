// llama-bench's measurement loop over a Session (see bench.hpp).
#include "llamux/bench.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <numeric>
#include <random>

#include "llamux/error.hpp"
#include "llamux/quantizer.hpp"

namespace llamux {
namespace {

template <class T>
double mean_of(const std::vector<T>& v) {
    if (v.empty()) return 0.0;
    double sum = 0.0;
    for (const T x : v) sum += static_cast<double>(x);
    return sum / static_cast<double>(v.size());
}

// The sample standard deviation, as llama-bench computes it.
template <class T>
double stddev_of(const std::vector<T>& v) {
    if (v.size() <= 1) return 0.0;
    const double m = mean_of(v);
    double sq = 0.0;
    for (const T x : v) sq += (static_cast<double>(x) - m) * (static_cast<double>(x) - m);
    return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// The file type: general.file_type, else the most common type of the 2-D tensors.
std::string file_type_text(const GgufFile& file) {
    if (const auto ft = file.get_int("general.file_type"); ft && *ft >= 0) {
        return file_type_description(static_cast<uint32_t>(*ft));
    }
    std::map<DType, int> counts;
    for (const auto& t : file.tensors()) {
        if (t.n_dims >= 2) ++counts[t.dtype];
    }
    DType best = DType::F32;
    int best_count = -1;
    for (const auto& [type, count] : counts) {
        if (count > best_count) best = type, best_count = count;
    }
    for (FileType ft : all_file_types()) {
        if (file_type_base(ft) == best) {
            return file_type_description(static_cast<uint32_t>(ft)) + " (guessed)";
        }
    }
    return std::string(dtype_name(best)) + " (guessed)";
}

}  // namespace

std::string llama_size_label(const LlamaHParams& hp) {
    switch (hp.n_layer) {
        case 16: return "1B";
        case 22: return "1B";
        case 26: return "3B";
        case 28: return "3B";
        case 32: return hp.n_vocab < 40000 ? "7B" : "8B";
        case 36: return "8B";
        case 40: return "13B";
        case 48: return "34B";
        case 60: return "30B";
        case 80: return hp.n_head == hp.n_head_kv ? "65B" : "70B";
        default: return "?B";
    }
}

BenchModelInfo bench_model_info(const Model& model) {
    BenchModelInfo info;
    info.filename = model.path();
    const GgufFile& file = model.file();
    for (const auto& t : file.tensors()) {
        info.size += t.n_bytes;
        uint64_t n = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) n *= static_cast<uint64_t>(t.ne[d]);
        info.n_params += n;
    }
    const std::string arch = file.get_string("general.architecture").value_or("llama");
    info.type = arch + " " + llama_size_label(model.hparams()) + " " + file_type_text(file);
    return info;
}

uint64_t BenchResult::avg_ns() const { return static_cast<uint64_t>(mean_of(samples_ns)); }
uint64_t BenchResult::stddev_ns() const { return static_cast<uint64_t>(stddev_of(samples_ns)); }

std::vector<double> BenchResult::samples_ts() const {
    std::vector<double> ts;
    const double n_tokens = n_prompt + n_gen;
    for (const uint64_t ns : samples_ns) ts.push_back(1e9 * n_tokens / static_cast<double>(ns));
    return ts;
}
double BenchResult::avg_ts() const { return mean_of(samples_ts()); }
double BenchResult::stddev_ts() const { return stddev_of(samples_ts()); }

std::string BenchResult::name() const {
    std::string name;
    if (n_prompt > 0 && n_gen == 0) {
        name = "pp" + std::to_string(n_prompt);
    } else if (n_gen > 0 && n_prompt == 0) {
        name = "tg" + std::to_string(n_gen);
    } else {
        name = "pp" + std::to_string(n_prompt) + "+tg" + std::to_string(n_gen);
    }
    return n_depth > 0 ? name + " @ d" + std::to_string(n_depth) : name;
}

BenchResult run_bench(Session& session, const BenchTest& test) {
    if (test.n_prompt < 0 || test.n_gen < 0 || test.n_prompt + test.n_gen == 0) {
        throw Error("bench: a test needs n_prompt > 0 or n_gen > 0");
    }
    if (test.reps < 1) throw Error("bench: expected repetitions >= 1, got " + std::to_string(test.reps));
    if (test.n_depth < 0) throw Error("bench: expected a depth >= 0, got " + std::to_string(test.n_depth));
    if (int64_t{test.n_depth} + test.n_prompt + test.n_gen > session.n_ctx()) {
        throw Error("bench: " + std::to_string(int64_t{test.n_depth} + test.n_prompt + test.n_gen) +
                    " tokens do not fit the context of " + std::to_string(session.n_ctx()) +
                    " (raise -c)");
    }
    const Tokenizer& tok = session.model().tokenizer();
    const int32_t n_vocab = session.model().hparams().n_vocab;
    std::mt19937 rng(test.seed);
    std::uniform_int_distribution<int32_t> any_token(0, n_vocab - 1);
    auto first_token = [&] { return tok.add_bos() ? tok.bos() : any_token(rng); };

    auto random_tokens = [&](int32_t n) {
        std::vector<int32_t> tokens(static_cast<size_t>(n));
        for (auto& t : tokens) t = any_token(rng);
        tokens[0] = first_token();
        return tokens;
    };
    auto prompt = [&] { session.decode(random_tokens(test.n_prompt)); };
    // Empties the cache down to the depth tokens, evaluating them the first time.
    auto start_at_depth = [&] {
        if (test.n_depth == 0 || session.n_past() < test.n_depth) {
            session.reset();
            if (test.n_depth > 0) session.decode(random_tokens(test.n_depth));
        }
        session.rewind(test.n_depth);
    };
    auto generate = [&](int32_t n) {
        int32_t token = first_token();
        for (int32_t i = 0; i < n; ++i) {
            session.decode({token});
            token = any_token(rng);
        }
    };

    BenchResult r;
    r.n_prompt = test.n_prompt;
    r.n_gen = test.n_gen;
    r.n_depth = test.n_depth;
    r.test_time = utc_now();
    if (test.warmup) {
        start_at_depth();
        if (test.n_prompt > 0) prompt();
        if (test.n_gen > 0) generate(1);
    }
    for (int32_t rep = 0; rep < test.reps; ++rep) {
        start_at_depth();
        const auto t0 = std::chrono::steady_clock::now();
        if (test.n_prompt > 0) prompt();
        if (test.n_gen > 0) generate(test.n_gen);
        const auto t1 = std::chrono::steady_clock::now();
        r.samples_ns.push_back(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    }
    session.reset();
    return r;
}

}  // namespace llamux
