// Row conversion over threads and the quantize pipeline: GGUF in, GGUF out.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <thread>

#include "llamux/error.hpp"
#include "llamux/gguf_writer.hpp"
#include "llamux/log.hpp"
#include "llamux/quant_ref.hpp"
#include "llamux/quantizer.hpp"

namespace llamux {
namespace {

bool has_reference_routines(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16 || info(t).quantized;
}

size_t checked_row_bytes(DType t, int64_t row_len) {
    const auto b = row_bytes(t, row_len);
    if (!b) {
        throw Error("row of " + std::to_string(row_len) + " elements: not a multiple of the " +
                    std::string(dtype_name(t)) + " block (" +
                    std::to_string(info(t).block_size) + ")");
    }
    return *b;
}

int resolve_threads(int n_threads) {
    if (n_threads > 0) return n_threads;
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// Runs body(first_row, end_row) over contiguous row ranges on up to n_threads threads.
template <class Body>
void parallel_rows(int64_t n_rows, int n_threads, const Body& body) {
    const int64_t threads = std::clamp<int64_t>(resolve_threads(n_threads), 1, std::max<int64_t>(n_rows, 1));
    if (threads == 1) {
        body(int64_t{0}, n_rows);
        return;
    }
    const int64_t per = (n_rows + threads - 1) / threads;
    std::vector<std::thread> workers;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
    for (int64_t t = 0; t < threads; ++t) {
        const int64_t first = t * per, end = std::min(n_rows, first + per);
        if (first >= end) break;
        workers.emplace_back([&, t, first, end] {
            try {
                body(first, end);
            } catch (...) {
                errors[static_cast<size_t>(t)] = std::current_exception();
            }
        });
    }
    for (auto& w : workers) w.join();
    for (auto& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

}  // namespace

void convert_rows(DType src_type, const void* src, DType dst_type, void* dst, int64_t n_rows,
                  int64_t row_len, int n_threads) {
    for (DType t : {src_type, dst_type}) {
        if (!has_reference_routines(t)) {
            throw Error("convert: no reference routines for type " + std::string(dtype_name(t)));
        }
    }
    const size_t src_stride = checked_row_bytes(src_type, row_len);
    const size_t dst_stride = checked_row_bytes(dst_type, row_len);
    const auto* in = static_cast<const uint8_t*>(src);
    auto* out = static_cast<uint8_t*>(dst);
    if (src_type == dst_type) {
        std::memcpy(out, in, src_stride * static_cast<size_t>(n_rows));
        return;
    }
    parallel_rows(n_rows, n_threads, [&](int64_t first, int64_t end) {
        std::vector<float> row(static_cast<size_t>(row_len));
        for (int64_t r = first; r < end; ++r) {
            const uint8_t* s = in + static_cast<size_t>(r) * src_stride;
            uint8_t* d = out + static_cast<size_t>(r) * dst_stride;
            const float* x = reinterpret_cast<const float*>(s);
            if (src_type != DType::F32) {
                dequantize_row_ref(src_type, s, row.data(), row_len);
                x = row.data();
            }
            quantize_row_ref(dst_type, x, d, row_len);
        }
    });
}

void quantize_generated_rows(DType dst_type, void* dst, int64_t n_rows, int64_t row_len,
                             int n_threads,
                             const std::function<void(int64_t row, float* out)>& make_row) {
    if (!has_reference_routines(dst_type)) {
        throw Error("quantize: no reference routines for type " + std::string(dtype_name(dst_type)));
    }
    const size_t dst_stride = checked_row_bytes(dst_type, row_len);
    auto* out = static_cast<uint8_t*>(dst);
    parallel_rows(n_rows, n_threads, [&](int64_t first, int64_t end) {
        std::vector<float> row(static_cast<size_t>(row_len));
        for (int64_t r = first; r < end; ++r) {
            make_row(r, row.data());
            quantize_row_ref(dst_type, row.data(), out + static_cast<size_t>(r) * dst_stride,
                             row_len);
        }
    });
}

MixContext mix_context_of(const GgufFile& file) {
    MixContext ctx;
    const std::string arch = file.get_string("general.architecture").value_or("llama");
    int32_t max_block = -1;
    for (const auto& t : file.tensors()) {
        int b = -1;
        if (std::sscanf(t.name.c_str(), "blk.%d.", &b) == 1) max_block = std::max(max_block, b);
        if (t.name.find("attn_v.weight") != std::string::npos) ++ctx.n_attn_v;
    }
    ctx.n_layer = static_cast<int32_t>(file.get_int(arch + ".block_count").value_or(max_block + 1));
    ctx.n_head = static_cast<int32_t>(file.get_int(arch + ".attention.head_count").value_or(0));
    ctx.n_head_kv =
        static_cast<int32_t>(file.get_int(arch + ".attention.head_count_kv").value_or(ctx.n_head));
    ctx.has_output = file.find_tensor("output.weight") != nullptr;
    return ctx;
}

QuantizeSummary quantize_file(const std::string& in, const std::string& out,
                              const QuantizeOptions& options) {
    const GgufFile file = GgufFile::open(in);
    {
        std::error_code ec;
        if (std::filesystem::equivalent(in, out, ec)) {
            throw Error(out + ": is the input file; write the output to another path");
        }
    }
    const MixContext ctx = mix_context_of(file);
    auto log = logger("quantize");

    GgufWriter writer;
    writer.copy_metadata(file);
    // llama.cpp sets these by removing and appending, so they end the key list.
    writer.remove("general.quantization_version");
    writer.set_uint32("general.quantization_version", 2);
    writer.remove("general.file_type");
    writer.set_uint32("general.file_type", static_cast<uint32_t>(options.type));

    std::vector<const GgufTensorInfo*> order;
    for (const auto& t : file.tensors()) order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return tensor_order_less(a->name, b->name);
    });

    QuantizeSummary summary;
    summary.n_tensors = order.size();
    for (size_t i = 0; i < order.size(); ++i) {
        const GgufTensorInfo& t = *order[i];
        const TensorTypeChoice choice =
            choose_tensor_type(options.type, ctx, t.name, t.n_dims, t.ne[0], t.dtype);
        if (choice.convert && !has_reference_routines(t.dtype)) {
            throw Error(in + ": tensor " + t.name + ": cannot convert type " +
                        std::string(dtype_name(t.dtype)) + " to " +
                        std::string(dtype_name(choice.type)));
        }
        std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        int64_t n_rows = 1;
        for (size_t d = 1; d < ne.size(); ++d) n_rows *= ne[d];
        const uint64_t bytes_out = checked_row_bytes(choice.type, t.ne[0]) * static_cast<uint64_t>(n_rows);
        summary.bytes_in += t.n_bytes;
        summary.bytes_out += bytes_out;
        if (choice.convert) ++summary.n_converted;
        if (choice.fallback) {
            ++summary.n_fallback;
            log->info("{}: row length {} does not fit {}, using {}", t.name, t.ne[0],
                      dtype_name(choice.wanted), dtype_name(choice.type));
        }

        QuantizeTensorEvent event;
        event.index = i;
        event.count = order.size();
        event.name = t.name;
        event.ne = ne;
        event.from = t.dtype;
        event.to = choice.type;
        event.bytes_in = t.n_bytes;
        event.bytes_out = bytes_out;
        event.fallback = choice.fallback;
        event.wanted = choice.wanted;
        writer.add_tensor_fill(
            t.name, choice.type, ne,
            [&t, choice, n_rows, event, &options](uint8_t* dst, size_t n) {
                if (choice.convert) {
                    convert_rows(t.dtype, t.data, choice.type, dst, n_rows, t.ne[0],
                                 options.n_threads);
                } else {
                    std::memcpy(dst, t.data, std::min(n, t.n_bytes));
                }
                if (options.on_tensor) options.on_tensor(event);
            });
    }
    writer.write(out);
    return summary;
}

}  // namespace llamux
