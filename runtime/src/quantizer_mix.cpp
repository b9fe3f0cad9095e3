// File types and llama.cpp's per-tensor type choices for Llama models (the "mixes").
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>

#include "llamux/quantizer.hpp"

namespace llamux {
namespace {

struct FileTypeEntry {
    FileType type;
    std::string_view name;
    std::string_view description;  // llama_model_ftype_name
    DType base;
};

// In llama.cpp's listing order.
constexpr FileTypeEntry kFileTypes[] = {
    {FileType::Q4_0, "Q4_0", "Q4_0", DType::Q4_0},
    {FileType::Q4_1, "Q4_1", "Q4_1", DType::Q4_1},
    {FileType::Q5_0, "Q5_0", "Q5_0", DType::Q5_0},
    {FileType::Q5_1, "Q5_1", "Q5_1", DType::Q5_1},
    {FileType::Q2_K, "Q2_K", "Q2_K - Medium", DType::Q2_K},
    {FileType::Q3_K_S, "Q3_K_S", "Q3_K - Small", DType::Q3_K},
    {FileType::Q3_K_M, "Q3_K_M", "Q3_K - Medium", DType::Q3_K},
    {FileType::Q3_K_L, "Q3_K_L", "Q3_K - Large", DType::Q3_K},
    {FileType::Q4_K_S, "Q4_K_S", "Q4_K - Small", DType::Q4_K},
    {FileType::Q4_K_M, "Q4_K_M", "Q4_K - Medium", DType::Q4_K},
    {FileType::Q5_K_S, "Q5_K_S", "Q5_K - Small", DType::Q5_K},
    {FileType::Q5_K_M, "Q5_K_M", "Q5_K - Medium", DType::Q5_K},
    {FileType::Q6_K, "Q6_K", "Q6_K", DType::Q6_K},
    {FileType::Q8_0, "Q8_0", "Q8_0", DType::Q8_0},
    {FileType::F16, "F16", "F16", DType::F16},
    {FileType::BF16, "BF16", "BF16", DType::BF16},
    {FileType::F32, "F32", "all F32", DType::F32},
};

const FileTypeEntry& entry(FileType t) {
    for (const auto& e : kFileTypes) {
        if (e.type == t) return e;
    }
    return kFileTypes[0];  // unreachable for a valid enumerator
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool ends_with(const std::string& s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool contains(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

// The block index of "blk.N.…", or -1.
int block_index(const std::string& name) {
    int i = -1;
    if (std::sscanf(name.c_str(), "blk.%d.", &i) != 1) return -1;
    return i;
}

// llama.cpp: the first and last eighth of the layers, and every third one between.
bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

bool fits(DType t, int64_t ne0) { return ne0 % info(t).block_size == 0; }

// The mix rules for a tensor that is converted and whose main type is quantized.
DType mix_type(FileType ft, const MixContext& ctx, const std::string& name, int64_t ne0,
               DType type) {
    const int n_gqa = ctx.n_head_kv > 0 ? ctx.n_head / ctx.n_head_kv : 1;
    const bool is_70b = ctx.n_layer == 80;  // llama.cpp's LLM_TYPE_70B for Llama
    const int layer = block_index(name);

    if (name == "output.weight" || (!ctx.has_output && name == "token_embd.weight")) {
        // llama.cpp c392e509 tests the row against QK_K; newer releases against the
        // main type's block and then fall back; both give Q8_0 for short rows.
        if (ne0 % 256 != 0) return DType::Q8_0;
        return type == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K;
    }
    if (name == "token_embd.weight") return type;  // only the IQ mixes change it

    if (contains(name, "attn_v.weight")) {
        const int i = layer;  // llama.cpp counts attn_v tensors in block order
        switch (ft) {
            case FileType::Q2_K: type = n_gqa >= 4 ? DType::Q4_K : DType::Q3_K; break;
            case FileType::Q3_K_M: type = i < 2 ? DType::Q5_K : DType::Q4_K; break;
            case FileType::Q3_K_L: type = DType::Q5_K; break;
            case FileType::Q4_K_M:
            case FileType::Q5_K_M:
                if (use_more_bits(i, ctx.n_attn_v)) type = DType::Q6_K;
                break;
            case FileType::Q4_K_S:
                if (i < 4) type = DType::Q5_K;
                break;
            default: break;
        }
        if (is_70b && (type == DType::Q3_K || type == DType::Q4_K)) type = DType::Q5_K;
        return type;
    }
    if (contains(name, "ffn_down")) {
        const int i = layer, n = ctx.n_layer;
        switch (ft) {
            case FileType::Q2_K: type = DType::Q3_K; break;
            case FileType::Q3_K_M: type = i < n / 16 ? DType::Q5_K : DType::Q4_K; break;
            case FileType::Q3_K_L: type = DType::Q5_K; break;
            case FileType::Q4_K_M:
            case FileType::Q5_K_M:
                if (use_more_bits(i, n)) type = DType::Q6_K;
                break;
            case FileType::Q4_K_S:
                if (i < n / 8) type = DType::Q5_K;
                break;
            default: break;
        }
        return type;
    }
    if (contains(name, "attn_output.weight")) {
        switch (ft) {
            case FileType::Q2_K: return DType::Q3_K;
            case FileType::Q3_K_M: return DType::Q4_K;
            case FileType::Q3_K_L: return DType::Q5_K;
            default: return type;
        }
    }
    return type;  // attn_q, attn_k, ffn_gate, ffn_up: the main type for these mixes
}

// llama.cpp's fallback for a row length the block size does not divide.
DType fallback_type(DType t, int64_t ne0) {
    DType f = DType::F16;
    switch (t) {
        case DType::Q2_K:
        case DType::Q3_K: f = DType::Q4_0; break;
        case DType::Q4_K: f = DType::Q5_0; break;
        case DType::Q5_K: f = DType::Q5_1; break;
        case DType::Q6_K: f = DType::Q8_0; break;
        default: f = DType::F16; break;
    }
    return fits(f, ne0) ? f : DType::F16;
}

}  // namespace

const std::vector<FileType>& all_file_types() {
    static const std::vector<FileType> types = [] {
        std::vector<FileType> v;
        for (const auto& e : kFileTypes) v.push_back(e.type);
        return v;
    }();
    return types;
}

std::optional<FileType> file_type_from_name(std::string_view name) {
    const std::string u = upper(name);
    for (const auto& e : kFileTypes) {
        if (u == e.name) return e.type;
    }
    // llama-quantize's aliases: the bare K-quant names mean the Medium mix.
    if (u == "Q3_K") return FileType::Q3_K_M;
    if (u == "Q4_K") return FileType::Q4_K_M;
    if (u == "Q5_K") return FileType::Q5_K_M;
    return std::nullopt;
}

std::string_view file_type_name(FileType t) { return entry(t).name; }

std::string file_type_description(uint32_t file_type) {
    for (const auto& e : kFileTypes) {
        if (static_cast<uint32_t>(e.type) == file_type) return std::string(e.description);
    }
    return "unknown (" + std::to_string(file_type) + ")";
}

DType file_type_base(FileType t) { return entry(t).base; }

TensorTypeChoice choose_tensor_type(FileType ft, const MixContext& ctx, const std::string& name,
                                    uint32_t n_dims, int64_t ne0, DType current) {
    TensorTypeChoice c;
    c.type = current;
    c.wanted = current;
    const bool quantizable = n_dims >= 2 && ends_with(name, "weight") &&
                             !contains(name, "_norm.weight") &&
                             !contains(name, "ffn_gate_inp.weight");
    if (!quantizable) return c;

    const DType base = file_type_base(ft);
    DType type = base;
    if (info(base).quantized) {
        type = mix_type(ft, ctx, name, ne0, base);
        c.wanted = type;
        if (!fits(type, ne0)) {
            type = fallback_type(type, ne0);
            c.fallback = true;
        }
    } else {
        c.wanted = type;
    }
    c.type = type;
    c.convert = type != current;
    return c;
}

bool tensor_order_less(const std::string& a, const std::string& b) {
    const int la = block_index(a), lb = block_index(b);
    if (la != lb) return la < lb;
    return a < b;
}

}  // namespace llamux
