#include "llamux/placement.hpp"

#include <algorithm>
#include <charconv>

#include "llamux/error.hpp"

namespace llamux {
namespace {

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool parse_int(const std::string& s, int32_t& out) {
    const auto* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && ptr == end;
}

}  // namespace

Placement Placement::resolve(const PlacementSpec& spec, int32_t n_layer, const std::string& host) {
    Placement p;
    p.per_layer_.assign(static_cast<size_t>(n_layer + 2), spec.default_backend);
    p.per_layer_[0] = host;  // token embeddings stay on the host, as in llama.cpp

    if (spec.n_gpu_layers < 0) {
        throw Error("-ngl: expected a number of layers >= 0, got " +
                    std::to_string(spec.n_gpu_layers));
    }
    const int32_t blocks = std::min(spec.n_gpu_layers, n_layer);
    for (int32_t l = n_layer - blocks; l < n_layer; ++l) {
        p.per_layer_[static_cast<size_t>(l + 1)] = spec.gpu_backend;
    }
    if (spec.n_gpu_layers > n_layer) p.per_layer_[static_cast<size_t>(n_layer + 1)] = spec.gpu_backend;

    // The explicit map: comma-separated "RANGE:BACKEND", RANGE = N, N-M or output.
    std::vector<bool> placed(p.per_layer_.size(), false);
    size_t start = 0;
    const std::string& map = spec.map;
    while (!map.empty() && start <= map.size()) {
        const size_t end = std::min(map.find(',', start), map.size());
        const std::string entry = trim(map.substr(start, end - start));
        start = end + 1;
        if (entry.empty()) continue;
        const auto colon = entry.rfind(':');
        auto bad = [&](const std::string& why) {
            throw Error("--placement entry '" + entry + "': " + why);
        };
        if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
            bad("expected RANGE:BACKEND, e.g. 0-15:onednn or output:cuda");
        }
        const std::string range = trim(entry.substr(0, colon));
        const std::string backend = trim(entry.substr(colon + 1));
        int32_t first = 0, last = 0;
        if (range == "output" || range == "head") {
            first = last = n_layer;
        } else if (const auto dash = range.find('-'); dash != std::string::npos) {
            if (!parse_int(range.substr(0, dash), first) || !parse_int(range.substr(dash + 1), last)) {
                bad("range '" + range + "' is not N-M");
            }
        } else if (!parse_int(range, first)) {
            bad("range '" + range + "' is not a layer number, N-M or output");
        } else {
            last = first;
        }
        if (first < 0 || last >= n_layer + (range == "output" || range == "head" ? 1 : 0) ||
            first > last) {
            bad("layers " + std::to_string(first) + "-" + std::to_string(last) +
                " out of range: the model has blocks 0-" + std::to_string(n_layer - 1) +
                " and 'output'");
        }
        for (int32_t l = first; l <= last; ++l) {
            const auto i = static_cast<size_t>(l + 1);
            if (placed[i]) bad("layer " + std::to_string(l) + " is placed twice");
            placed[i] = true;
            p.per_layer_[i] = backend;
        }
    }
    return p;
}

std::vector<std::string> Placement::backend_names() const {
    std::vector<std::string> names;
    for (const auto& b : per_layer_) {
        if (std::find(names.begin(), names.end(), b) == names.end()) names.push_back(b);
    }
    return names;
}

std::string Placement::describe() const {
    std::string out = "embd:" + per_layer_[0];
    const int32_t n = n_layer();
    int32_t run_start = 0;
    for (int32_t l = 0; l <= n; ++l) {
        const bool end = l == n || backend_of(l) != backend_of(run_start);
        if (!end) continue;
        out += " " + std::to_string(run_start);
        if (l - 1 > run_start) out += "-" + std::to_string(l - 1);
        out += ":" + backend_of(run_start);
        run_start = l;
    }
    out += " out:" + backend_of(n);
    return out;
}

}  // namespace llamux
