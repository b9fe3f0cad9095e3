#include "kv_shift.hpp"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/host_threads.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux {
namespace {

// Rows moved per read/write: bounds the host buffer (4 MiB for a 7B cache row of F16).
constexpr int64_t kChunkRows = 512;

lmx_tensor host_f32(float* data, int64_t ne0, int64_t ne1, int64_t ne2, const char* name) {
    lmx_tensor t{};
    t.dtype = LMX_TYPE_F32;
    t.role = LMX_ROLE_ACTIVATION;
    const int64_t ne[LMX_MAX_DIMS] = {ne0, ne1, ne2, 1};
    size_t stride = sizeof(float);
    for (int d = 0; d < LMX_MAX_DIMS; ++d) {
        t.ne[d] = ne[d];
        t.nb[d] = stride;
        stride *= static_cast<size_t>(ne[d]);
    }
    t.data = data;
    t.name = name;
    return t;
}

// Turns `rows` cached keys ([head_dim, n_head_kv] each) by `delta` positions in place with
// the reference rope: RoPE is a rotation linear in the position, so rope(p) then rope(delta)
// is rope(p + delta). Every row has the same position, so its angles are computed once.
void turn_keys(float* keys, int64_t rows, const LlamaHParams& hp, int32_t delta) {
    lmx_tensor x = host_f32(keys, hp.head_dim(), hp.n_head_kv, rows, "shifted keys");
    std::vector<int32_t> positions(static_cast<size_t>(rows), delta);
    lmx_tensor pos{};
    pos.dtype = LMX_TYPE_I32;
    pos.role = LMX_ROLE_INPUT;
    pos.ne[0] = rows;
    pos.ne[1] = pos.ne[2] = pos.ne[3] = 1;
    pos.nb[0] = sizeof(int32_t);
    pos.nb[1] = pos.nb[2] = pos.nb[3] = sizeof(int32_t) * static_cast<size_t>(rows);
    pos.data = positions.data();
    pos.name = "shift positions";

    lmx_node node{};
    node.op = LMX_OP_ROPE;
    node.src[0] = &x;
    node.src[1] = &pos;
    node.dst = &x;  // the reference rope reads each pair before writing it
    node.iparams[0] = hp.n_rot;
    node.fparams[0] = hp.rope_freq_base;
    node.fparams[1] = hp.rope_freq_scale;
    lmx_exec_args args{};
    args.struct_size = sizeof(args);
    std::string error;
    if (run_node_ref(node, args, &error) != LMX_OK) throw Error("context shift: " + error);
}

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

// Moves n rows of one cache; keys (turn) are turned by to - from positions on the way.
void shift_cache(KvCache& kv, const std::string& name, bool turn, const LlamaHParams& hp, int32_t n_threads,
                 int32_t from, int32_t to, int32_t n) {
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
                turn_keys(v, r1 - r0, hp, to - from);
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
    if (n_threads <= 0) n_threads = default_thread_count();
    for (int32_t layer = 0; layer < hp.n_layer; ++layer) {
        shift_cache(kv, kv_cache_name(true, layer), true, hp, n_threads, from, to, n);
        shift_cache(kv, kv_cache_name(false, layer), false, hp, n_threads, from, to, n);
    }
}

}  // namespace llamux
