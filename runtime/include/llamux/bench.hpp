// Throughput measurement as llama.cpp's llama-bench does it, so the two tools' figures can
// be set side by side:
//  - a pp test evaluates n_prompt random tokens (BOS first when the vocabulary adds one)
//    in batches of the session's n_batch, from an empty cache;
//  - a tg test decodes n_gen single tokens one after another, from an empty cache;
//  - with n_depth > 0 (llama-bench's -d) either test starts after n_depth random tokens
//    already in the cache (evaluated once, untimed, and kept across repetitions), which
//    measures speed deep into a long conversation;
//  - each test runs once untimed (warm-up: builds and caches the graphs), then `reps`
//    timed repetitions; tokens per second of a repetition are (n_prompt + n_gen) / time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "llamux/model.hpp"
#include "llamux/session.hpp"

namespace llamux {

// What llama-bench reports about a model file.
struct BenchModelInfo {
    std::string filename;    // the path as given
    std::string type;        // llama_model_desc: "llama 7B Q4_0", "llama ?B all F32"
    uint64_t size = 0;       // bytes of tensor data
    uint64_t n_params = 0;   // elements of all tensors
};
BenchModelInfo bench_model_info(const Model& model);

// llama.cpp's size label of a Llama model from its block count: 22 -> "1B", 32 -> "7B",
// 40 -> "13B", ...; "?B" for a count it does not know.
std::string llama_size_label(const LlamaHParams& hp);

struct BenchTest {
    int32_t n_prompt = 0;
    int32_t n_gen = 0;
    int32_t reps = 5;
    bool warmup = true;
    uint32_t seed = 1;  // of the random token ids
    int32_t n_depth = 0;  // tokens in the cache before the test
};

struct BenchResult {
    int32_t n_prompt = 0;
    int32_t n_gen = 0;
    int32_t n_depth = 0;
    std::string test_time;             // UTC start, "2025-02-20T12:34:56Z"
    std::vector<uint64_t> samples_ns;  // one per repetition

    uint64_t avg_ns() const;
    uint64_t stddev_ns() const;        // sample standard deviation (n - 1), 0 for one sample
    std::vector<double> samples_ts() const;  // tokens per second of each repetition
    double avg_ts() const;
    double stddev_ts() const;
    std::string name() const;          // "pp512", "tg128", "pp512+tg128", "tg128 @ d4096"
};

// Runs one test on the session (emptied down to the depth tokens before every repetition;
// left reset afterwards).
// Throws Error when the session's context cannot hold the test's tokens.
BenchResult run_bench(Session& session, const BenchTest& test);

}  // namespace llamux
