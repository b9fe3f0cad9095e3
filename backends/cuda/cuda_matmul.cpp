// Matmul on the GPU: dst[N, M] = W[K, N] x[K, M].
// - Quantized weights: x is first rounded as the reference rounds it (its vec_dot_type,
//   Q8_0 or Q8_K; cuda_activations.cu), so both paths multiply the same activations as the
//   reference and differ from it only in summation order and in f16 weight rounding.
// - M = 1 (token generation): the matrix-vector kernels of cuda_mmv.cu read the stored
//   weight directly (memory-bound): int8 dot products for the five quantized types kept as
//   in the file (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K), f16/f32 weights (the others are kept as
//   f16) on float x.
// - M > 1 (prompt processing): cuBLAS. F32 weights: SGEMM on the f32 activations (full f32,
//   no TF32). F16 weights: the activations are converted to f16 and cublasGemmEx multiplies
//   f16 x f16 with f32 accumulation and output (tensor cores). Quantized weights: tiles of at
//   most kTileElems elements are dequantized to an f16 scratch and multiplied the same way.
//
// cuBLAS is column-major: the row-major weight (N rows of K) is the K x N matrix A with
// lda = row stride, x (M rows of K) the K x M matrix B, dst (M rows of N) the N x M matrix C;
// C = A^T B.
#include <algorithm>
#include <cstdint>

#include "cuda_backend.hpp"
#include "cuda_kernels.hpp"
#include "cuda_stored_types.hpp"
#include "llamux/dtype.hpp"

namespace llamux::cuda {
namespace {

// f16 elements per dequantized tile (128 MiB): every matrix of a 7B model (at most 11008 x
// 4096) is one tile, so cuBLAS gets one product of the full shape.
constexpr int64_t kTileElems = int64_t{64} << 20;

lmx_status cublas_status(cublasStatus_t s, const char* call, std::string* why) {
    if (s == CUBLAS_STATUS_SUCCESS) return LMX_OK;
    *why = std::string(call) + ": " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")";
    return s == CUBLAS_STATUS_ALLOC_FAILED ? LMX_ERR_OUT_OF_MEMORY : LMX_ERR_DEVICE;
}

lmx_status launch_status(std::string* why) {
    const cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return LMX_OK;
    *why = "kernel launch: " + error_text(e);
    return LMX_ERR_DEVICE;
}

// C[rows, M] (ldc) = A^T B with A f16 [K, rows] (lda), B f16 [K, M] (ldb = K).
lmx_status gemm_f16(CudaBackend& b, int64_t rows, int64_t M, int64_t K, const void* a, int64_t lda,
                    const void* x16, float* c, int64_t ldc, std::string* why) {
    const float one = 1.0f, zero = 0.0f;
    return cublas_status(
        cublasGemmEx(b.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(M),
                     static_cast<int>(K), &one, a, CUDA_R_16F, static_cast<int>(lda), x16, CUDA_R_16F,
                     static_cast<int>(K), &zero, c, CUDA_R_32F, static_cast<int>(ldc),
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx", why);
}

// The cuBLAS input of x: rounded as the reference rounds it, or plainly converted.
void activations_to_f16(const CompiledNode& c, const float* x, size_t x_row_bytes, int64_t K, int64_t M,
                        CudaBackend& b) {
    if (c.reuse_rounded) return;
    if (c.round_as >= 0) {
        launch_round_activations(c.round_as, ActOut::F16, x, x_row_bytes, K, M, b.gemm_act.ptr, nullptr, b.stream);
    } else {
        launch_f32_to_f16(x, x_row_bytes, K, M, b.gemm_act.ptr, b.stream);
    }
}

// The rope + KV store work of a fused q/k/v group (fuse_qkv_rope_store in cuda_program.cpp
// checked the shapes: contiguous f32 heads, f16 caches, one token).
RopeStoreEpilogue rope_store_epilogue(const CudaBackend& b, const CompiledNode& c) {
    RopeStoreEpilogue e;
    e.q_rope = static_cast<float*>(c.rope_q.dst->data);
    e.k_rope = static_cast<float*>(c.rope_k.dst->data);
    e.k_cache = c.store_k.dst->data;
    e.v_cache = c.store_v.dst->data;
    e.k_cache_nb1 = static_cast<int64_t>(c.store_k.dst->nb[1]);
    e.v_cache_nb1 = static_cast<int64_t>(c.store_v.dst->nb[1]);
    e.positions = static_cast<const int32_t*>(c.rope_k.src[1]->data);
    e.n_past = b.n_past_dev;
    e.head_dim = static_cast<int>(c.rope_k.src[0]->ne[0]);
    e.n_rot = c.rope_k.iparams[0];
    e.theta_scale = theta_scale_of(c.rope_k);
    e.freq_scale = c.rope_k.fparams[1];
    return e;
}

// The add + norm of a product with a norm tail (fuse_norm_tails in cuda_program.cpp checked
// the shapes), rounding into the activation scratch as the norm's own launch would.
NormTail norm_tail(const CudaBackend& b, const CompiledNode& c) {
    NormTail t;
    t.a = static_cast<const float*>(c.norm_add.src[0]->data);
    t.s = static_cast<float*>(c.norm_add.dst->data);
    t.w = static_cast<const float*>(c.norm_node.src[1]->data);
    t.dst = static_cast<float*>(c.norm_node.dst->data);
    t.n = static_cast<int>(c.norm_node.dst->ne[0]);
    t.eps = c.norm_node.fparams[0];
    if (c.norm_round_out >= 0) {
        t.round = RoundTarget{c.norm_round_out, b.gemm_act.ptr, static_cast<float*>(b.act_scales.ptr)};
    }
    return t;
}

}  // namespace

lmx_status plan_matmul(CudaBackend& b, CompiledNode& c, std::string* why) {
    const lmx_tensor& w = *c.node.src[0];
    const lmx_tensor& x = *c.node.src[1];
    const DeviceWeight& dw = *c.weight;
    const int64_t K = w.ne[0], N = dw.n_rows, M = x.ne[1];
    const auto vdt = static_cast<int32_t>(vec_dot_type(static_cast<DType>(w.dtype)));
    c.round_as = vdt == LMX_TYPE_Q8_0 || vdt == LMX_TYPE_Q8_K ? vdt : -1;
    const std::string dst_name = c.node.dst->name ? c.node.dst->name : "";
    if (M == 1) {
        // The int8 kernels read the file's own blocks (not a weight expanded to f16).
        const bool int8 =
            c.round_as >= 0 && keeps_blocks(dw.stored_dtype, w.dtype) && mmv_q8_supports(dw.stored_dtype);
        c.path = int8 ? MatmulPath::GemvQ8 : MatmulPath::Gemv;
        if (c.path == MatmulPath::GemvQ8) {
            c.group = MmvGroup{};
            c.group.w[0] = w.data;
            c.group.row_bytes[0] = dw.row_bytes;
            c.group.y[0] = static_cast<float*>(c.node.dst->data);
            c.group.rows[0] = N;
            c.group.n = 1;
        }
        if (c.round_as < 0) return LMX_OK;  // x read in place
        const lmx_status s = ensure_scratch(b, b.gemm_act, static_cast<size_t>(K) * sizeof(float),
                                            "rounded activations for " + dst_name, why);
        if (s != LMX_OK || c.path != MatmulPath::GemvQ8) return s;
        return ensure_scratch(b, b.act_scales, static_cast<size_t>(K / 32) * sizeof(float),
                              "activation scales for " + dst_name, why);
    }
    if (dw.stored_dtype == LMX_TYPE_F32) {
        c.path = MatmulPath::GemmF32;
        return LMX_OK;
    }
    lmx_status s = ensure_scratch(b, b.gemm_act, static_cast<size_t>(K * M) * 2,
                                  "f16 activations for " + dst_name, why);
    if (s != LMX_OK) return s;
    if (dw.stored_dtype == LMX_TYPE_F16) {
        c.path = MatmulPath::GemmF16;
        return LMX_OK;
    }
    c.path = MatmulPath::GemmDequant;
    c.tile_rows = std::min<int64_t>(N, std::max<int64_t>(1, kTileElems / K));
    return ensure_scratch(b, b.gemm_weight, static_cast<size_t>(c.tile_rows * K) * 2,
                          "f16 weight tile for " + dst_name, why);
}

namespace {

// The form launch_round_activations writes for a path; -1 when x is not rounded.
int rounded_form(const CompiledNode& c) {
    if (c.node.op != LMX_OP_MATMUL || c.round_as < 0) return -1;
    switch (c.path) {
        case MatmulPath::GemvQ8: return static_cast<int>(ActOut::Q8);
        case MatmulPath::Gemv: return static_cast<int>(ActOut::F32);
        case MatmulPath::GemmF16:
        case MatmulPath::GemmDequant: return static_cast<int>(ActOut::F16);
        case MatmulPath::GemmF32: return -1;
    }
    return -1;
}

}  // namespace

void share_matmul_inputs(std::vector<CompiledNode>& nodes) {
    for (size_t i = 1; i < nodes.size(); ++i) {
        CompiledNode& c = nodes[i];
        const CompiledNode& prev = nodes[i - 1];
        const int form = rounded_form(c);
        if (form < 0 || form != rounded_form(prev) || c.round_as != prev.round_as) continue;
        const lmx_tensor& x = *c.node.src[1];
        const lmx_tensor& px = *prev.node.src[1];
        c.reuse_rounded = x.data == px.data && x.ne[0] == px.ne[0] && x.ne[1] == px.ne[1] && x.nb[1] == px.nb[1] &&
                          prev.node.dst->data != x.data;
    }
    // Runs of int8 products on one rounded x become one launch, led by the run's first node.
    for (size_t lead = 0; lead < nodes.size(); ++lead) {
        CompiledNode& c = nodes[lead];
        if (c.path != MatmulPath::GemvQ8 || c.run_by_group) continue;
        for (size_t j = lead + 1; j < nodes.size() && c.group.n < kMaxMmvGroup; ++j) {
            CompiledNode& f = nodes[j];
            if (f.path != MatmulPath::GemvQ8 || !f.reuse_rounded || f.weight->stored_dtype != c.weight->stored_dtype) {
                break;
            }
            MmvGroup& g = c.group;
            g.w[g.n] = f.node.src[0]->data;
            g.row_bytes[g.n] = f.weight->row_bytes;
            g.y[g.n] = static_cast<float*>(f.node.dst->data);
            g.rows[g.n] = f.weight->n_rows;
            ++g.n;
            f.run_by_group = true;
        }
    }
}

lmx_status run_matmul(CudaBackend& b, const CompiledNode& c, std::string* why) {
    const lmx_tensor& w = *c.node.src[0];
    const lmx_tensor& x = *c.node.src[1];
    const lmx_tensor& dst = *c.node.dst;
    const DeviceWeight& dw = *c.weight;
    const int64_t K = w.ne[0], N = dw.n_rows, M = x.ne[1];
    const auto* xf = static_cast<const float*>(x.data);
    auto* y = static_cast<float*>(dst.data);
    const auto ldy = static_cast<int64_t>(dst.nb[1] / sizeof(float));

    switch (c.path) {
        case MatmulPath::Gemv:
            if (c.round_as >= 0) {
                if (!c.reuse_rounded) {
                        launch_round_activations(c.round_as, ActOut::F32, xf, x.nb[1], K, 1, b.gemm_act.ptr, nullptr,
                                             b.stream);
                    if (const lmx_status s = launch_status(why); s != LMX_OK) return s;
                }
                xf = static_cast<const float*>(b.gemm_act.ptr);
            }
            launch_mmv(dw.stored_dtype, w.data, dw.row_bytes, K, N, xf, y, b.stream);
            return LMX_OK;  // the caller checks the launch
        case MatmulPath::GemvQ8: {
            if (c.run_by_group) return LMX_OK;  // computed by the group's first node
            // x_in_alt: rounded by the SwiGLU epilogue of the launch before (fusion level 6).
            const DeviceScratch& act = c.x_in_alt ? b.act_alt : b.gemm_act;
            auto* scales = static_cast<float*>(c.x_in_alt ? b.act_scales_alt.ptr : b.act_scales.ptr);
            if (!c.reuse_rounded) {
                launch_round_activations(c.round_as, ActOut::Q8, xf, x.nb[1], K, 1, act.ptr, scales, b.stream);
                if (const lmx_status s = launch_status(why); s != LMX_OK) return s;
            }
            const auto* xq = static_cast<const int8_t*>(act.ptr);
            if (c.has_swiglu_epilogue) {
                SwigluEpilogue e;
                e.h = static_cast<float*>(c.swiglu_node.dst->data);
                e.round = RoundTarget{LMX_TYPE_Q8_0, b.act_alt.ptr, static_cast<float*>(b.act_scales_alt.ptr)};
                launch_mmv_q8_swiglu(dw.stored_dtype, c.group, K, xq, scales, e,
                                     static_cast<unsigned*>(b.swiglu_tickets.ptr), b.stream);
            } else if (c.has_rope_epilogue) {
                launch_mmv_q8_rope_store(dw.stored_dtype, c.group, K, xq, scales, rope_store_epilogue(b, c), b.stream);
            } else if (c.has_norm_tail) {
                launch_mmv_q8_norm(dw.stored_dtype, c.group, K, xq, scales, norm_tail(b, c), b.last_block_ticket,
                                   b.stream);
            } else {
                launch_mmv_q8(dw.stored_dtype, c.group, K, xq, scales, b.stream);
            }
            return LMX_OK;
        }
        case MatmulPath::GemmF32: {
            const float one = 1.0f, zero = 0.0f;
            return cublas_status(
                cublasSgemm(b.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                            static_cast<int>(K), &one, static_cast<const float*>(w.data),
                            static_cast<int>(dw.row_bytes / sizeof(float)), xf,
                            static_cast<int>(x.nb[1] / sizeof(float)), &zero, y, static_cast<int>(ldy)),
                "cublasSgemm", why);
        }
        case MatmulPath::GemmF16:
            activations_to_f16(c, xf, x.nb[1], K, M, b);
            if (const lmx_status s = launch_status(why); s != LMX_OK) return s;
            return gemm_f16(b, N, M, K, w.data, static_cast<int64_t>(dw.row_bytes / 2), b.gemm_act.ptr, y,
                            ldy, why);
        case MatmulPath::GemmDequant: {
            activations_to_f16(c, xf, x.nb[1], K, M, b);
            if (const lmx_status s = launch_status(why); s != LMX_OK) return s;
            const auto* wb = static_cast<const char*>(w.data);
            for (int64_t n0 = 0; n0 < N; n0 += c.tile_rows) {
                const int64_t rows = std::min(c.tile_rows, N - n0);
                launch_dequantize_f16(dw.stored_dtype, wb + static_cast<size_t>(n0) * dw.row_bytes,
                                      dw.row_bytes, K, rows, b.gemm_weight.ptr, b.stream);
                if (const lmx_status s = launch_status(why); s != LMX_OK) return s;
                const lmx_status s = gemm_f16(b, rows, M, K, b.gemm_weight.ptr, K, b.gemm_act.ptr, y + n0, ldy, why);
                if (s != LMX_OK) return s;
            }
            return LMX_OK;
        }
    }
    *why = "unknown matmul path";
    return LMX_ERR_INTERNAL;
}

}  // namespace llamux::cuda
