#include "sampling_flags.hpp"

#include "llamux/error.hpp"

namespace llamux::tools {

void SamplingFlags::add_to(CLI::App& cmd) {
    cmd.add_option("-s,--seed", seed, "RNG seed (-1: random)");
    cmd.add_option("--temp", sampling.temperature, "Temperature (0: greedy)");
    cmd.add_option("--top-k", sampling.top_k, "Top-k (0: off)");
    cmd.add_option("--top-p", sampling.top_p, "Top-p (1: off)");
    cmd.add_option("--min-p", sampling.min_p, "Min-p (0: off)");
    cmd.add_option("--repeat-penalty", sampling.repeat_penalty, "Repeat penalty (1: off)");
    cmd.add_option("--repeat-last-n", sampling.repeat_last_n,
                   "Tokens the repeat penalty looks back at (-1: all)");
}

SamplingParams SamplingFlags::params() const {
    if (seed < -1 || seed > 0xFFFFFFFFLL) {
        throw Error("-s: expected -1 (random) or 0..4294967295, got " + std::to_string(seed));
    }
    SamplingParams p = sampling;
    p.seed = seed < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(seed);
    return p;
}

}  // namespace llamux::tools
