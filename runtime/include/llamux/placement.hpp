// Per-layer placement: which backend runs each layer of the graph.
// Layers are numbered as in the graph: -1 is the token embedding (always on the host
// backend), 0 .. n_layer-1 the blocks, n_layer the output norm and head.
#pragma once

#include <string>
#include <vector>

namespace llamux {

struct PlacementSpec {
    std::string default_backend = "cpu";  // everything not placed otherwise
    int32_t n_gpu_layers = 0;             // -ngl: the last N blocks (+ head when N > n_layer)
    std::string gpu_backend = "cuda";     // where -ngl puts them
    std::string map;                      // --placement "0-15:onednn,16-31:cuda,output:cuda"
};

class Placement {
public:
    // Resolves the spec for a model. -ngl applies first, then the map overrides it.
    // Throws Error naming the flag and the offending entry for malformed, overlapping or
    // out-of-range map entries.
    static Placement resolve(const PlacementSpec& spec, int32_t n_layer, const std::string& host);

    const std::string& backend_of(int32_t layer) const {
        return per_layer_.at(static_cast<size_t>(layer + 1));
    }
    int32_t n_layer() const { return static_cast<int32_t>(per_layer_.size()) - 2; }
    std::vector<std::string> backend_names() const;  // distinct, in layer order
    std::string describe() const;                     // "embd:cpu 0-2:cpu 3-4:onednn out:onednn"

private:
    std::vector<std::string> per_layer_;  // index layer + 1
};

}  // namespace llamux
