#include "session_state.hpp"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "llamux/error.hpp"
#include "llamux/llama_graph.hpp"

namespace llamux {
namespace {

constexpr char kMagic[8] = {'L', 'M', 'X', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVersionOneCacheType = 1;
constexpr size_t kChunkBytes = size_t{8} << 20;  // rows copied per backend read/write

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

template <typename T>
void put(std::ostream& out, T value) {
    out.write(reinterpret_cast<const char*>(&value), sizeof value);
}

class Reader {
public:
    Reader(std::istream& in, const std::string& source) : in_(in), source_(source) {}
    void bytes(void* data, size_t n, const char* what) {
        in_.read(static_cast<char*>(data), static_cast<std::streamsize>(n));
        if (static_cast<size_t>(in_.gcount()) != n) {
            throw Error(source_ + ": session state ends early, in " + what);
        }
    }
    template <typename T>
    T get(const char* what) {
        T value{};
        bytes(&value, sizeof value, what);
        return value;
    }
    // Reads a u32 field that must equal `expected`.
    void expect(const char* what, uint64_t expected) {
        const uint64_t got = get<uint32_t>(what);
        if (got != expected) {
            throw Error(source_ + ": session state made for another model or setting: " + what + " " +
                        std::to_string(got) + ", this session has " + std::to_string(expected));
        }
    }
    const std::string& source() const { return source_; }

private:
    std::istream& in_;
    const std::string& source_;
};

KvCache::Resident cache_of(KvCache& kv, bool keys, int32_t layer) {
    const std::string name = kv_cache_name(keys, layer);
    const KvCache::Resident cache = kv.find(name);
    if (!cache.tensor) throw Error("session state: KV cache " + name + " was never allocated");
    return cache;
}

}  // namespace

uint64_t model_fingerprint(const Model& model) {
    const GgufFile& file = model.file();
    uint64_t h = 0xCBF29CE484222325ull;
    const uint64_t size = file.file_size();
    const uint64_t count = file.tensors().size();
    h = fnv1a(h, &size, sizeof size);
    h = fnv1a(h, &count, sizeof count);
    for (const char* name : {"token_embd.weight", "output.weight", "blk.0.attn_q.weight"}) {
        if (const GgufTensorInfo* t = file.find_tensor(name)) {
            h = fnv1a(h, t->data, std::min<size_t>(t->n_bytes, 64 * 1024));
        }
    }
    return h;
}

void write_session_state(std::ostream& out, const Model& model, KvCache& kv,
                         const std::vector<int32_t>& tokens) {
    const LlamaHParams& hp = model.hparams();
    out.write(kMagic, sizeof kMagic);
    put<uint32_t>(out, kVersion);
    put<uint64_t>(out, model_fingerprint(model));
    put<uint32_t>(out, static_cast<uint32_t>(hp.n_layer));
    put<uint32_t>(out, static_cast<uint32_t>(hp.n_embd_kv()));
    put<uint32_t>(out, static_cast<uint32_t>(hp.n_vocab));
    put<uint32_t>(out, cache_of(kv, true, 0).tensor->dtype);
    put<uint32_t>(out, cache_of(kv, false, 0).tensor->dtype);
    put<uint32_t>(out, static_cast<uint32_t>(tokens.size()));
    out.write(reinterpret_cast<const char*>(tokens.data()),
              static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
    std::vector<char> buffer;
    for (int32_t layer = 0; layer < hp.n_layer; ++layer) {
        for (const bool keys : {true, false}) {
            const KvCache::Resident cache = cache_of(kv, keys, layer);
            const uint64_t row_bytes = cache.tensor->nb[1];
            put<uint64_t>(out, row_bytes);
            const size_t total = tokens.size() * row_bytes;
            buffer.resize(std::min(total, kChunkBytes));
            for (size_t done = 0; done < total; done += buffer.size()) {
                const size_t n = std::min(buffer.size(), total - done);
                cache.backend->read(*cache.tensor, buffer.data(), done, n);
                cache.backend->synchronize();
                out.write(buffer.data(), static_cast<std::streamsize>(n));
            }
        }
    }
    if (!out) throw Error("session state: writing failed");
}

std::vector<int32_t> read_session_state(std::istream& in, const std::string& source,
                                        const Model& model, KvCache& kv, int32_t n_ctx) {
    const LlamaHParams& hp = model.hparams();
    Reader r(in, source);
    char magic[sizeof kMagic];
    r.bytes(magic, sizeof magic, "the magic");
    if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
        throw Error(source + ": not a llamux session state (expected the magic LMXSTATE)");
    }
    const uint32_t version = r.get<uint32_t>("the version");
    if (version != kVersion && version != kVersionOneCacheType) {
        throw Error(source + ": session state version " + std::to_string(version) + ", expected " +
                    std::to_string(kVersion));
    }
    if (r.get<uint64_t>("the model fingerprint") != model_fingerprint(model)) {
        throw Error(source + ": session state made for another model file than " + model.path());
    }
    r.expect("n_layer", uint64_t(hp.n_layer));
    r.expect("n_embd_kv", uint64_t(hp.n_embd_kv()));
    r.expect("n_vocab", uint64_t(hp.n_vocab));
    const uint32_t type_k = r.get<uint32_t>("the key cache type");
    const uint32_t type_v = version == kVersionOneCacheType ? type_k : r.get<uint32_t>("the value cache type");
    for (const auto& [what, saved, keys] : {std::tuple{"key", type_k, true}, std::tuple{"value", type_v, false}}) {
        const int32_t have = cache_of(kv, keys, 0).tensor->dtype;
        if (saved != uint32_t(have)) {
            const auto saved_info = dtype_info(int32_t(saved));
            const std::string saved_name = saved_info ? std::string(saved_info->name) : std::to_string(saved);
            throw Error(source + ": session state holds a " + saved_name +
                        " " + what + " cache, this session has " + std::string(info(static_cast<DType>(have)).name) +
                        " (-ct" + what[0] + ")");
        }
    }
    const uint32_t n_tokens = r.get<uint32_t>("the token count");
    if (n_tokens > uint32_t(n_ctx)) {
        throw Error(source + ": session state holds " + std::to_string(n_tokens) +
                    " tokens, more than the context of " + std::to_string(n_ctx) + " (raise -c)");
    }
    std::vector<int32_t> tokens(n_tokens);
    r.bytes(tokens.data(), tokens.size() * sizeof(int32_t), "the tokens");
    for (int32_t t : tokens) {
        if (t < 0 || t >= hp.n_vocab) {
            throw Error(source + ": session state holds token " + std::to_string(t) + ", outside 0.." +
                        std::to_string(hp.n_vocab - 1));
        }
    }
    std::vector<char> buffer;
    for (int32_t layer = 0; layer < hp.n_layer; ++layer) {
        for (const bool keys : {true, false}) {
            const KvCache::Resident cache = cache_of(kv, keys, layer);
            const uint64_t row_bytes = r.get<uint64_t>("a cache row size");
            if (row_bytes != cache.tensor->nb[1]) {
                throw Error(source + ": session state rows of " + std::to_string(row_bytes) +
                            " bytes for " + kv_cache_name(keys, layer) + ", this session has " +
                            std::to_string(cache.tensor->nb[1]));
            }
            const size_t total = size_t(n_tokens) * row_bytes;
            buffer.resize(std::min(total, kChunkBytes));
            for (size_t done = 0; done < total; done += buffer.size()) {
                const size_t n = std::min(buffer.size(), total - done);
                r.bytes(buffer.data(), n, "the cache rows");
                cache.backend->write(*cache.tensor, buffer.data(), done, n);
                cache.backend->synchronize();  // the next chunk reuses the buffer
            }
        }
    }
    return tokens;
}

}  // namespace llamux
