// The names and letters of the sampling chain's steps, as llama.cpp's --samplers and
// --sampling-seq spell them.
#include <map>

#include "llamux/error.hpp"
#include "llamux/sampler.hpp"

namespace llamux {

std::vector<SamplerStep> parse_sampler_names(const std::string& names, const std::string& flag) {
    static const std::map<std::string, SamplerStep> known = {
        {"penalties", SamplerStep::Penalties}, {"dry", SamplerStep::Dry},
        {"top_k", SamplerStep::TopK},
        {"top-k", SamplerStep::TopK},          {"typ_p", SamplerStep::TypicalP},
        {"typical-p", SamplerStep::TypicalP},  {"typical", SamplerStep::TypicalP},
        {"typ-p", SamplerStep::TypicalP},      {"typ", SamplerStep::TypicalP},
        {"top_p", SamplerStep::TopP},          {"top-p", SamplerStep::TopP},
        {"nucleus", SamplerStep::TopP},        {"min_p", SamplerStep::MinP},
        {"min-p", SamplerStep::MinP},          {"xtc", SamplerStep::Xtc},
        {"temperature", SamplerStep::Temperature}, {"temp", SamplerStep::Temperature},
    };
    std::vector<SamplerStep> steps;
    size_t start = 0;
    while (start <= names.size()) {
        const size_t end = std::min(names.find(';', start), names.size());
        const std::string name = names.substr(start, end - start);
        if (!name.empty()) {
            const auto it = known.find(name);
            if (it == known.end()) {
                throw Error(flag + ": unknown sampler \"" + name +
                            "\" (expected penalties, dry, top_k, typ_p, top_p, min_p, xtc or temperature)");
            }
            steps.push_back(it->second);
        }
        start = end + 1;
    }
    return steps;
}

std::vector<SamplerStep> parse_sampler_letters(const std::string& letters, const std::string& flag) {
    static const std::map<char, SamplerStep> known = {
        {'e', SamplerStep::Penalties}, {'d', SamplerStep::Dry}, {'k', SamplerStep::TopK}, {'y', SamplerStep::TypicalP},
        {'p', SamplerStep::TopP},      {'m', SamplerStep::MinP}, {'x', SamplerStep::Xtc},
        {'t', SamplerStep::Temperature},
    };
    std::vector<SamplerStep> steps;
    for (char letter : letters) {
        const auto it = known.find(letter);
        if (it == known.end()) {
            throw Error(flag + ": unknown sampler letter '" + std::string(1, letter) +
                        "' (expected e, d, k, y, p, m, x or t)");
        }
        steps.push_back(it->second);
    }
    return steps;
}

}  // namespace llamux
