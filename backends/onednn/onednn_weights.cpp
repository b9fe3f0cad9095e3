// Matmul weights for oneDNN: converted once (F16 and quantized types to f32 or bf16, see
// WeightPolicy) and reordered once into the layout the matmul primitive prefers; everything
// else is used in place from the mapped file.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "llamux/dtype.hpp"
#include "llamux/quant_ref.hpp"
#include "onednn_backend.hpp"

namespace llamux::onednn {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::string mib(size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return text;
}

std::string type_name(int32_t dtype) {
    const auto i = dtype_info(dtype);
    return i ? std::string(i->name) : "type " + std::to_string(dtype);
}

// Rows [0, n) of w[k, n] as `to` (f32 or bf16) in a plain [n][k] buffer.
void convert_rows(const lmx_tensor& w, const void* host_data, dt to, std::byte* out,
                  int32_t n_threads) {
    const int64_t k = w.ne[0], n = w.ne[1];
    const auto type = static_cast<DType>(w.dtype);
    const size_t out_row = static_cast<size_t>(k) * (to == dt::bf16 ? 2 : 4);
#pragma omp parallel num_threads(n_threads)
    {
        std::vector<float> row(static_cast<size_t>(k));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < n; ++r) {
            const auto* src = static_cast<const std::byte*>(host_data) + static_cast<size_t>(r) * w.nb[1];
            std::byte* dst = out + static_cast<size_t>(r) * out_row;
            if (to == dt::f32) {
                dequantize_row_ref(type, src, reinterpret_cast<float*>(dst), k);
            } else {
                dequantize_row_ref(type, src, row.data(), k);
                auto* h = reinterpret_cast<bf16_bits*>(dst);
                for (int64_t i = 0; i < k; ++i) h[i] = f32_to_bf16(row[static_cast<size_t>(i)]);
            }
        }
    }
}

}  // namespace

dt held_type(const OnednnBackend& b, int32_t dtype) {
    if (!b.native_bf16 || b.policy == WeightPolicy::F32 || dtype == LMX_TYPE_F32) return dt::f32;
    if (dtype == LMX_TYPE_F16 && b.policy == WeightPolicy::Auto) return dt::f32;
    return dt::bf16;
}

std::string layout_name(const dnnl::memory::desc& md) {
    const dnnl_memory_desc_t& d = md.data;
    if (d.format_kind != dnnl_blocked) return "opaque";
    const auto& blk = d.format_desc.blocking;
    std::vector<int> order(static_cast<size_t>(d.ndims));
    for (int i = 0; i < d.ndims; ++i) order[static_cast<size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int c) { return blk.strides[a] > blk.strides[c]; });
    std::string name;
    for (int i : order) {
        bool blocked = false;
        for (int j = 0; j < blk.inner_nblks; ++j) blocked = blocked || blk.inner_idxs[j] == i;
        name += static_cast<char>((blocked ? 'A' : 'a') + i);
    }
    for (int j = 0; j < blk.inner_nblks; ++j) {
        name += std::to_string(blk.inner_blks[j]);
        name += static_cast<char>('a' + blk.inner_idxs[j]);
    }
    return name;
}

bool is_matmul_weight(const lmx_tensor& t) {
    switch (t.dtype) {
        case LMX_TYPE_F32: case LMX_TYPE_F16: case LMX_TYPE_BF16:
        case LMX_TYPE_Q4_0: case LMX_TYPE_Q4_1: case LMX_TYPE_Q5_0: case LMX_TYPE_Q5_1:
        case LMX_TYPE_Q8_0: case LMX_TYPE_Q2_K: case LMX_TYPE_Q3_K: case LMX_TYPE_Q4_K:
        case LMX_TYPE_Q5_K: case LMX_TYPE_Q6_K:
            break;
        default:
            return false;
    }
    return t.ne[1] > 1 && t.ne[2] == 1 && t.ne[3] == 1;
}

lmx_status prepare_weight(OnednnBackend& b, lmx_tensor& weight, const void* host_data,
                          std::string* why) {
    weight.data = const_cast<void*>(host_data);  // norms and anything else: read in place
    weight.extra = nullptr;
    if (!is_matmul_weight(weight)) return LMX_OK;
    const auto ti = dtype_info(weight.dtype);
    if (!ti || weight.nb[0] != ti->type_size || weight.ne[0] % ti->block_size != 0) {
        *why = std::string(weight.name ? weight.name : "weight") + ": expected " +
               type_name(weight.dtype) + " rows of whole blocks, got ne[0] " +
               std::to_string(weight.ne[0]) + ", nb[0] " + std::to_string(weight.nb[0]);
        return LMX_ERR_INVALID;
    }

    ThreadScope threads(b.n_threads);
    const int64_t k = weight.ne[0], n = weight.ne[1];
    const dt to = held_type(b, weight.dtype);
    const bool as_is = (weight.dtype == LMX_TYPE_F32 && to == dt::f32) ||
                       (weight.dtype == LMX_TYPE_BF16 && to == dt::bf16);

    // W[K, N] with rows of K elements: the {K, N} matrix the primitive wants, column-major.
    const dnnl::memory::desc plain_md({k, n}, to, tag::ba);
    const dnnl::memory::desc src_md({b.layout_batch, k}, to, tag::ab);
    const dnnl::memory::desc any_md({k, n}, to, tag::any);
    const dnnl::memory::desc dst_md({b.layout_batch, n}, dt::f32, tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_md, dst_md), b.engine);
    const dnnl::memory::desc best_md = pd.weights_desc();

    auto prepared = std::make_unique<PreparedWeight>();
    prepared->k = k;
    prepared->n = n;
    prepared->file_bytes = static_cast<size_t>(n) * weight.nb[1];
    const bool rows_packed = weight.nb[1] == static_cast<size_t>(k / ti->block_size) * ti->type_size;
    if (as_is && rows_packed && best_md == plain_md) {
        // Zero copy: the file's layout is the one the primitive wants.
        prepared->mem = dnnl::memory(plain_md, b.engine, const_cast<void*>(host_data));
    } else {
        std::vector<std::byte> converted;
        void* plain = const_cast<void*>(host_data);
        if (!as_is || !rows_packed) {
            converted.resize(plain_md.get_size());
            convert_rows(weight, host_data, to, converted.data(), b.n_threads);
            plain = converted.data();
        }
        dnnl::memory plain_mem(plain_md, b.engine, plain);
        prepared->mem = dnnl::memory(best_md, b.engine);  // oneDNN-owned buffer
        dnnl::reorder(plain_mem, prepared->mem).execute(b.stream, plain_mem, prepared->mem);
        b.stream.wait();
        prepared->bytes = best_md.get_size();
    }

    b.weight_bytes += prepared->bytes;
    b.file_bytes += prepared->file_bytes;
    ++b.n_weights;
    log(b, 1,
        std::string(weight.name ? weight.name : "weight") + ": " + type_name(weight.dtype) + " " +
            std::to_string(k) + "x" + std::to_string(n) + " -> " +
            (to == dt::bf16 ? "bf16 " : "f32 ") + layout_name(best_md) +
            (prepared->bytes ? ", +" + mib(prepared->bytes) + " (file " + mib(prepared->file_bytes) + ")"
                             : ", zero copy"));
    weight.extra = prepared.release();
    return LMX_OK;
}

void release_weight(OnednnBackend& b, lmx_tensor& weight) {
    auto* prepared = static_cast<PreparedWeight*>(weight.extra);
    if (prepared) {
        b.weight_bytes -= prepared->bytes;
        b.file_bytes -= prepared->file_bytes;
        --b.n_weights;
        delete prepared;
    }
    weight.extra = nullptr;
    weight.data = nullptr;
}

void log_weight_total(OnednnBackend& b) {
    if (b.weight_bytes == b.logged_weight_bytes) return;
    b.logged_weight_bytes = b.weight_bytes;
    log(b, 2,
        std::to_string(b.n_weights) + " matmul weights in oneDNN layouts (quantized held as " +
            (held_type(b, LMX_TYPE_Q4_0) == dt::bf16 ? "bf16" : "f32") + ", f16 as " +
            (held_type(b, LMX_TYPE_F16) == dt::bf16 ? "bf16" : "f32") + "): " +
            mib(b.weight_bytes) + " of host memory beyond the mapped file (" +
            mib(b.file_bytes) + " of these tensors in the file)");
}

}  // namespace llamux::onednn
