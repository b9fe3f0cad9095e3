#include "sampling_flags.hpp"

#include <cctype>
#include <climits>
#include <cmath>
#include <cstdlib>

#include "llamux/error.hpp"
#include "llamux/json_schema.hpp"
#include "text_file.hpp"

namespace llamux::tools {
namespace {

// "15043+1", "15043-1.5", "2-inf": a token id, a sign and a magnitude.
LogitBias parse_logit_bias(const std::string& text) {
    const auto fail = [&] {
        return Error("-l/--logit-bias: expected TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043+1), got \"" +
                     text + "\"");
    };
    size_t sign = 0;
    while (sign < text.size() && std::isdigit(static_cast<unsigned char>(text[sign]))) ++sign;
    if (sign == 0 || sign + 1 >= text.size() || (text[sign] != '+' && text[sign] != '-')) throw fail();
    const std::string magnitude = text.substr(sign + 1);
    char* end = nullptr;
    const float value = std::strtof(magnitude.c_str(), &end);
    if (end != magnitude.c_str() + magnitude.size() || std::isnan(value) || value < 0) throw fail();
    const long token = std::strtol(text.substr(0, sign).c_str(), nullptr, 10);
    if (token > INT32_MAX) throw fail();
    return {static_cast<int32_t>(token), text[sign] == '-' ? -value : value};
}

}  // namespace

void SamplingFlags::add_to(CLI::App& cmd) {
    cmd.add_option("-s,--seed", seed, "RNG seed (-1: random)");
    cmd.add_option("--temp", sampling.temperature, "Temperature (0: greedy)");
    cmd.add_option("--top-k", sampling.top_k, "Top-k (0: off)");
    cmd.add_option("--top-p", sampling.top_p, "Top-p (1: off)");
    cmd.add_option("--min-p", sampling.min_p, "Min-p (0: off)");
    cmd.add_option("--typical", sampling.typical_p, "Locally typical sampling, parameter p (1: off)");
    cmd.add_option("--repeat-penalty", sampling.repeat_penalty, "Repeat penalty (1: off)");
    cmd.add_option("--repeat-last-n", sampling.repeat_last_n,
                   "Tokens the penalties look back at (0: off, -1: all)");
    cmd.add_option("--presence-penalty", sampling.presence_penalty, "Presence penalty (0: off)");
    cmd.add_option("--frequency-penalty", sampling.frequency_penalty, "Frequency penalty (0: off)");
    cmd.add_option("--dynatemp-range", sampling.dynatemp_range,
                   "Dynamic temperature: --temp plus or minus this, by entropy (0: off)");
    cmd.add_option("--dynatemp-exp", sampling.dynatemp_exponent, "Dynamic temperature exponent");
    cmd.add_option("--xtc-probability", sampling.xtc_probability,
                   "XTC: chance of excluding the top choices (0: off)");
    cmd.add_option("--xtc-threshold", sampling.xtc_threshold, "XTC: probability threshold (> 0.5: off)");
    cmd.add_option("--top-nsigma", sampling.top_n_sigma,
                   "Top-n-sigma: keep logits within N standard deviations of the top (-1: off)");
    cmd.add_option("--mirostat", sampling.mirostat,
                   "Mirostat sampling in place of the chain (0: off, 1: Mirostat, 2: Mirostat 2.0)");
    cmd.add_option("--mirostat-lr", sampling.mirostat_eta, "Mirostat learning rate (eta)");
    cmd.add_option("--mirostat-ent", sampling.mirostat_tau, "Mirostat target entropy (tau)");
    cmd.add_option("--min-keep", sampling.min_keep, "Tokens every cutting step keeps at least");
    cmd.add_option("--dry-multiplier", sampling.dry_multiplier,
                   "DRY: penalty for extending a repeat of the recent text (0: off)");
    cmd.add_option("--dry-base", sampling.dry_base, "DRY: the penalty grows by this per repeated token");
    cmd.add_option("--dry-allowed-length", sampling.dry_allowed_length, "DRY: repeats this long go free");
    cmd.add_option("--dry-penalty-last-n", sampling.dry_penalty_last_n,
                   "DRY: recent tokens looked at (-1: all, 0: off)");
    cmd.add_option("--dry-sequence-breaker", dry_breakers,
                   "DRY: text after which a repeat ends; replaces the defaults (\\n : \" *); 'none': no breakers");
    cmd.add_option("-l,--logit-bias", logit_bias,
                   "Add to a token's logit: TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043-inf); repeatable");
    cmd.add_flag("--ignore-eos", ignore_eos, "Never end the text: bans the end of text token");
    cmd.add_option("--samplers", samplers,
                   "The chain's steps in order, ';'-separated (default: "
                   "penalties;dry;top_k;typ_p;top_p;min_p;xtc;temperature)");
    cmd.add_option("--sampling-seq,--sampler-seq", sampling_seq, "The same as letters (default: edkypmxt)");
    cmd.add_option("--grammar", grammar, "Keep the text in this GBNF grammar's language (llama.cpp's format)");
    cmd.add_option("--grammar-file", grammar_file, "The same, the grammar read from a file");
    cmd.add_option("-j,--json-schema", json_schema,
                   "Keep the text a JSON value of this JSON schema ('{}': any JSON value)");
}

std::shared_ptr<const Grammar> SamplingFlags::grammar_constraint() const {
    const int given = int(!grammar.empty()) + int(!grammar_file.empty()) + int(!json_schema.empty());
    if (given > 1) throw Error("--grammar, --grammar-file and -j/--json-schema: expected at most one, got " +
                               std::to_string(given));
    if (!grammar.empty()) return parse_grammar(grammar, "--grammar");
    if (!grammar_file.empty()) return parse_grammar(read_text_file(grammar_file), grammar_file);
    if (!json_schema.empty()) return parse_grammar(json_schema_to_grammar(json_schema, "-j"), "-j");
    return nullptr;
}

SamplingParams SamplingFlags::params(int32_t eos) const {
    if (seed < -1 || seed > 0xFFFFFFFFLL) {
        throw Error("-s: expected -1 (random) or 0..4294967295, got " + std::to_string(seed));
    }
    SamplingParams p = sampling;
    p.seed = seed < 0 ? 0xFFFFFFFFu : static_cast<uint32_t>(seed);
    for (const std::string& text : logit_bias) p.logit_bias.push_back(parse_logit_bias(text));
    if (ignore_eos) p.logit_bias.push_back({eos, -INFINITY});
    if (!samplers.empty()) p.order = parse_sampler_names(samplers, "--samplers");
    if (!sampling_seq.empty()) p.order = parse_sampler_letters(sampling_seq, "--sampling-seq");
    if (!dry_breakers.empty()) {
        p.dry_sequence_breakers = dry_breakers;
        if (dry_breakers == std::vector<std::string>{"none"}) p.dry_sequence_breakers.clear();
    }
    check_sampling_params(p);
    return p;
}

}  // namespace llamux::tools
