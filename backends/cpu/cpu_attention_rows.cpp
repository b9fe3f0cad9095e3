// Attention one query row (token, head) at a time: the scalar path for any cache type and the
// AVX2 path for F32, F16 and quantized caches. CPUs with AVX-512 take cpu_attention_avx512.cpp
// and cpu_attention_row_avx512.cpp instead for all of these but BF16, and AVX2 CPUs take
// cpu_attention_avx2.cpp's blocks wherever a step has 8 query rows per KV head (prompts, and
// decode steps of 8-head groups), so this kernel runs the rest. Each row reads its K
// and V rows itself; dots end in a horizontal sum. Quantized caches (32-value block types)
// have llama.cpp's numerics for them: with a quantized K, q is quantized to Q8_0 as its x86 quantizer does and each
// block's q.k is an integer dot times the block scales (the matmul kernels of the key
// cache's type); a quantized V is read by its flash attention (the only path it has for
// one), rows dequantized and probabilities kept in float.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu_attention.hpp"
#include "cpu_tensor.hpp"
#include "kernels/kernels.hpp"
#include "llamux/quant_ref.hpp"

#define LMX_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace llamux::cpu {
namespace {

// ---- scalar: any cache type ------------------------------------------------------------

inline float cache_elem(int32_t dtype, const std::byte* row, int64_t i) {
    switch (dtype) {
        case LMX_TYPE_F16: return f16_to_f32(reinterpret_cast<const f16_bits*>(row)[i]);
        case LMX_TYPE_BF16: return bf16_to_f32(reinterpret_cast<const bf16_bits*>(row)[i]);
        default: return reinterpret_cast<const float*>(row)[i];
    }
}

// The kernels a row with a quantized cache uses (nullptr members where the cache is not
// quantized): q converted and dotted with a key row as the matmul kernels do for a weight
// of the key cache's type, value rows added through the block axpy.
struct BlockKernels {
    const TypeKernels* keys = nullptr;
    BlockAxpyFn values = nullptr;
};

BlockKernels block_kernels(const lmx_node& node, Isa isa) {
    BlockKernels b;
    if (info(static_cast<DType>(node.src[1]->dtype)).quantized) {
        b.keys = kernels_for(static_cast<DType>(node.src[1]->dtype), isa);
    }
    b.values = block_axpy_for(static_cast<DType>(node.src[2]->dtype), isa);
    return b;
}

inline float round_to(int32_t dtype, float v) {
    if (dtype == LMX_TYPE_F16) return f16_to_f32(f32_to_f16(v));
    if (dtype == LMX_TYPE_BF16) return bf16_to_f32(f32_to_bf16(v));
    return v;
}

// ---- AVX2 + F16C: F32 and F16 caches -------------------------------------------------------

LMX_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LMX_AVX2 inline __m256 load8(int32_t dtype, const std::byte* row, int64_t i) {
    if (dtype == LMX_TYPE_F16) {
        return _mm256_cvtph_ps(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * static_cast<size_t>(i))));
    }
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
}

// round_to() with F16C for the F16 case.
LMX_AVX2 inline float round_to_f16c(int32_t dtype, float v) {
    if (dtype == LMX_TYPE_F16) return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT));
    return round_to(dtype, v);
}

LMX_AVX2 inline float dot_avx2(const float* q, int32_t dtype, const std::byte* row,
                               int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= n; d += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(dtype, row, d), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8(dtype, row, d + 8), a1);
    }
    if (d + 8 <= n) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(dtype, row, d), a0);
        d += 8;
    }
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; d < n; ++d) s += q[d] * cache_elem(dtype, row, d);
    return s;
}

LMX_AVX2 inline void axpy_avx2(float p, int32_t dtype, const std::byte* row, float* out,
                               int64_t n) {
    const __m256 pv = _mm256_set1_ps(p);
    int64_t d = 0;
    for (; d + 8 <= n; d += 8) {
        _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pv, load8(dtype, row, d),
                                                  _mm256_loadu_ps(out + d)));
    }
    for (; d < n; ++d) out[d] += p * cache_elem(dtype, row, d);
}

// ---- one (token, head) row -----------------------------------------------------------------

// Where row (t, h) reads and writes.
struct Item {
    const float* q;  // [head_dim]
    float* out;      // [head_dim], in dst row t
    int64_t n_kv;    // cache rows it sees: n_past + t + 1
    size_t k_off;    // bytes into a K cache row: its kv head
    size_t v_off;
};

Item item_at(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h) {
    const auto kv_head = static_cast<size_t>((h / s.group) * s.head_dim);  // elements
    return {reinterpret_cast<const float*>(row_ptr(*node.src[0], h, t)),
            reinterpret_cast<float*>(row_ptr(*node.dst, t)) + h * s.head_dim,
            s.n_past + t + 1, cache_bytes(*node.src[1], static_cast<int64_t>(kv_head)),
            cache_bytes(*node.src[2], static_cast<int64_t>(kv_head))};
}

// scores[0..n) = exp(scores - max); returns 1 / their sum (summed in double).
float softmax_unnormalised(float* scores, int64_t n, float max_s) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
        const float e = std::exp(scores[j] - max_s);
        scores[j] = e;
        sum += static_cast<double>(e);
    }
    return static_cast<float>(1.0 / sum);
}

// scores: n_kv floats, qh: head_dim floats (per-thread scratch).
void attend_scalar(const lmx_node& node, const AttnShape& s, const Item& it, float* scores,
                   float* qh) {
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t D = s.head_dim;
    const BlockKernels blocks = block_kernels(node, Isa::Scalar);
    if (blocks.keys) blocks.keys->from_float(it.q, qh, D);  // q as Q8_0 blocks, in qh's place
    for (int64_t d = 0; d < D && !blocks.keys; ++d) qh[d] = round_to(k.dtype, it.q[d]);
    float max_s = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < it.n_kv; ++j) {
        const std::byte* kr = row_ptr(k, j) + it.k_off;
        float dot = 0.0f;
        if (blocks.keys) {
            dot = blocks.keys->vec_dot(D, kr, qh);
        } else {
            for (int64_t d = 0; d < D; ++d) dot += qh[d] * cache_elem(k.dtype, kr, d);
        }
        scores[j] = dot * s.scale;
        max_s = std::max(max_s, scores[j]);
    }
    const float inv_sum = softmax_unnormalised(scores, it.n_kv, max_s);
    std::fill(it.out, it.out + D, 0.0f);
    for (int64_t j = 0; j < it.n_kv; ++j) {
        const std::byte* vr = row_ptr(v, j) + it.v_off;
        const float p = round_to(v.dtype, scores[j] * inv_sum);
        if (blocks.values) {
            blocks.values(D, p, vr, it.out);
        } else {
            for (int64_t d = 0; d < D; ++d) it.out[d] += p * cache_elem(v.dtype, vr, d);
        }
    }
}

// The same for F32, F16 and quantized caches with AVX2, F16C and FMA (isa: at least Avx2).
LMX_AVX2 void attend_avx2(const lmx_node& node, const AttnShape& s, const Item& it, Isa isa,
                          float* scores, float* qh) {
    const lmx_tensor& k = *node.src[1];
    const lmx_tensor& v = *node.src[2];
    const int64_t D = s.head_dim;
    int64_t d = 0;
    if (k.dtype == LMX_TYPE_F16) {
        for (; d + 8 <= D; d += 8) {
            const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(it.q + d), _MM_FROUND_TO_NEAREST_INT);
            _mm256_storeu_ps(qh + d, _mm256_cvtph_ps(h));
        }
    }
    const BlockKernels blocks = block_kernels(node, isa);
    if (blocks.keys) blocks.keys->from_float(it.q, qh, D);  // q as Q8_0 blocks, in qh's place
    for (; d < D && !blocks.keys; ++d) qh[d] = round_to(k.dtype, it.q[d]);
    float max_s = -std::numeric_limits<float>::infinity();
    const size_t k_bytes = cache_bytes(k, D), v_bytes = cache_bytes(v, D);
    for (int64_t j = 0; j < it.n_kv; ++j) {
        if (j + kPrefetchKeys < it.n_kv) prefetch_bytes(row_ptr(k, j + kPrefetchKeys) + it.k_off, k_bytes);
        const std::byte* kr = row_ptr(k, j) + it.k_off;
        const float dot = blocks.keys ? blocks.keys->vec_dot(D, kr, qh) : dot_avx2(qh, k.dtype, kr, D);
        scores[j] = dot * s.scale;
        max_s = std::max(max_s, scores[j]);
    }
    const float inv_sum = softmax_unnormalised(scores, it.n_kv, max_s);
    std::fill(it.out, it.out + D, 0.0f);
    for (int64_t j = 0; j < it.n_kv; ++j) {
        if (j + kPrefetchKeys < it.n_kv) prefetch_bytes(row_ptr(v, j + kPrefetchKeys) + it.v_off, v_bytes);
        const float p = round_to_f16c(v.dtype, scores[j] * inv_sum);
        const std::byte* vr = row_ptr(v, j) + it.v_off;
        if (blocks.values) {
            blocks.values(D, p, vr, it.out);
        } else {
            axpy_avx2(p, v.dtype, vr, it.out, D);
        }
    }
}

bool avx2_type(int32_t dtype) {
    return dtype == LMX_TYPE_F32 || dtype == LMX_TYPE_F16 || info(static_cast<DType>(dtype)).quantized;
}

}  // namespace

size_t attend_row_scratch(int64_t head_dim, int64_t n_ctx) {
    return static_cast<size_t>(n_ctx + head_dim) * sizeof(float);
}

bool attend_row_avx2_types(const lmx_node& node) {
    return avx2_type(node.src[1]->dtype) && avx2_type(node.src[2]->dtype);
}

void attend_row(const lmx_node& node, const AttnShape& s, int64_t t, int64_t h, Isa isa,
                std::byte* scratch) {
    auto* scores = reinterpret_cast<float*>(scratch);  // [n_ctx]
    float* qh = scores + node.src[1]->ne[1];           // [head_dim]
    const Item it = item_at(node, s, t, h);
    if (isa >= Isa::Avx2) {
        attend_avx2(node, s, it, isa, scores, qh);
    } else {
        attend_scalar(node, s, it, scores, qh);
    }
}

}  // namespace llamux::cpu
