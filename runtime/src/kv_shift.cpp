#include "kv_shift.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux {
namespace {

// Rows moved per read/write: bounds the host buffer (4 MiB for a 7B cache row of F16).
constexpr int64_t kChunkRows = 512;

// The rotation that moves a key by `delta` positions: RoPE is a rotation linear in the
// position, so rope(p) then rope(delta) is rope(p + delta). Its cos/sin per rotated pair are
// the same for every row, so they are computed once, exactly as the reference rope computes
// them for position delta (ggml_rope_cache_init: theta iterated in float, scaled when used),
// and applied as it applies them: the same bits as the reference op.
class KeyTurn {
public:
    KeyTurn(const LlamaHParams& hp, int32_t delta)
        : head_dim_(hp.head_dim()), n_head_kv_(hp.n_head_kv), n_rot_(hp.n_rot),
          cos_sin_(static_cast<size_t>(hp.n_rot)) {
        const float theta_scale = std::pow(hp.rope_freq_base, -2.0f / static_cast<float>(n_rot_));
        float theta_extrap = static_cast<float>(delta);
        for (int32_t i = 0; i < n_rot_; i += 2) {
            const float theta = hp.rope_freq_scale * theta_extrap;
            cos_sin_[static_cast<size_t>(i)] = std::cos(theta);
            cos_sin_[static_cast<size_t>(i) + 1] = std::sin(theta);
            theta_extrap *= theta_scale;
        }
    }

    // Turns `rows` keys ([head_dim, n_head_kv] each) in place.
    void apply(float* keys, int64_t rows) const {
        for (int64_t r = 0; r < rows * n_head_kv_; ++r) {
            float* x = keys + r * head_dim_;
            for (int32_t i = 0; i < n_rot_; i += 2) {
                const float c = cos_sin_[static_cast<size_t>(i)];
                const float s = cos_sin_[static_cast<size_t>(i) + 1];
                const float x0 = x[i], x1 = x[i + 1];
                x[i] = x0 * c - x1 * s;
                x[i + 1] = x0 * s + x1 * c;
            }
        }
    }

private:
    int64_t head_dim_, n_head_kv_;
    int32_t n_rot_;
    std::vector<float> cos_sin_;
};

// Runs work(r0, r1) over rows [0, rows) on up to n_threads threads, in contiguous parts.
template <typename Work>
void over_rows(int64_t rows, int32_t n_threads, Work&& work) {
    const int64_t parts = std::clamp<int64_t>(n_threads, 1, rows);
    std::vector<std::thread> threads;
    for (int64_t p = 1; p < parts; ++p) {
        threads.emplace_back([&, p] { work(rows * p / parts, rows * (p + 1) / parts); });
    }
    work(0, rows / parts);
    for (auto& t : threads) t.join();
}

void shift_cache(KvCache& kv, const std::string& name, const KeyTurn* turn, int32_t n_threads, int32_t from,
                 int32_t to, int32_t n) {
    const KvCache::Resident cache = kv.find(name);
    if (!cache.tensor) throw Error("context shift: KV cache " + name + " was never allocated");
    const auto type = static_cast<DType>(cache.tensor->dtype);
    const int64_t row_elems = cache.tensor->ne[0];
    const size_t row_bytes = cache.tensor->nb[1];
    std::vector<uint8_t> bytes(static_cast<size_t>(std::min<int64_t>(kChunkRows, n)) * row_bytes);
    std::vector<float> values(turn ? bytes.size() / row_bytes * static_cast<size_t>(row_elems) : 0);
    for (int64_t done = 0; done < n; done += kChunkRows) {
        const int64_t rows = std::min<int64_t>(kChunkRows, n - done);
        const size_t size = static_cast<size_t>(rows) * row_bytes;
        cache.backend->read(*cache.tensor, bytes.data(), static_cast<size_t>(from + done) * row_bytes,
                            size);
        if (turn) {
            over_rows(rows, n_threads, [&](int64_t r0, int64_t r1) {
                uint8_t* b = bytes.data() + static_cast<size_t>(r0) * row_bytes;
                float* v = values.data() + static_cast<size_t>(r0 * row_elems);
                dequantize_row_ref(type, b, v, (r1 - r0) * row_elems);
                turn->apply(v, r1 - r0);
                // Stored back as llama.cpp's K-shift stores them (its x86 quantizer for Q8_0).
                quantize_activation_row_ref(type, v, b, (r1 - r0) * row_elems);
            });
        }
        cache.backend->write(*cache.tensor, bytes.data(), static_cast<size_t>(to + done) * row_bytes,
                             size);
        cache.backend->synchronize();  // the next chunk reuses `bytes`
    }
}

}  // namespace

void shift_kv_rows(KvCache& kv, const LlamaHParams& hp, int32_t from, int32_t to, int32_t n, int32_t n_threads) {
    if (n <= 0 || from == to) return;
    if (n_threads <= 0) n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
    const KeyTurn turn(hp, to - from);
    for (int32_t layer = 0; layer < hp.n_layer; ++layer) {
        shift_cache(kv, kv_cache_name(true, layer), &turn, n_threads, from, to, n);
        shift_cache(kv, kv_cache_name(false, layer), nullptr, n_threads, from, to, n);
    }
}

}  // namespace llamux
