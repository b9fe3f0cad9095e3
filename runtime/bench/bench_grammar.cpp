// Micro benchmark of grammar-constrained sampling's costly part: which tokens of a
// vocabulary a grammar allows next (GrammarVocab::allowed, one walk over a byte trie),
// against asking token by token (GrammarVocab::allows), inside a JSON string, where nearly
// every token fits. Best of N runs, one thread.
//
//   llamux_bench_grammar VOCAB.gguf [--reps N]
//   e.g. llamux_bench_grammar ../shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/grammar_sampling.hpp"
#include "llamux/tokenizer.hpp"

namespace {

double best_ms(int reps, const std::function<void()>& work) {
    work();  // warm up (per-thread scratch, caches)
    double best = 1e300;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        work();
        best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s VOCAB.gguf [--reps N]\n", argv[0]);
        return 2;
    }
    const int reps = argc >= 4 && std::string(argv[2]) == "--reps" ? std::atoi(argv[3]) : 50;
    try {
        const llamux::Tokenizer tok = llamux::Tokenizer::from_gguf(llamux::GgufFile::open(argv[1]));
        const auto vocab = llamux::grammar_vocab(tok);
        const auto grammar = llamux::parse_grammar(llamux::json_grammar(), "json");
        llamux::GrammarState state(grammar);
        state.advance("{\"story\": {\"title\": \"Once upon a time, there was a little");
        std::vector<uint8_t> mask;
        const double walk = best_ms(reps, [&] { vocab->allowed(state, mask); });
        const auto n_allowed = std::count(mask.begin(), mask.end(), 1);
        const double each = best_ms(std::max(1, reps / 10), [&] {
            for (int32_t id = 0; id < vocab->n_vocab(); ++id) mask[size_t(id)] = vocab->allows(state, id);
        });
        std::printf("vocabulary %d tokens, %ld allowed inside a JSON string\n", vocab->n_vocab(),
                    static_cast<long>(n_allowed));
        std::printf("allowed() trie walk: %.3f ms   token by token: %.3f ms   (best of %d)\n", walk, each, reps);
    } catch (const llamux::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
