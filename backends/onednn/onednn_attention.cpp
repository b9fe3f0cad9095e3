// Causal grouped-query attention over the KV cache with primitives of fixed shape.
//
// n_past changes every token, so no primitive is built for it. At compile, the score width
// W (cache rows a query may look at) gets a set of buckets, 256, 512, ... up to n_ctx, and
// each bucket its primitives; execute picks the smallest bucket holding n_past + n_tok rows
// and masks the rows a query may not see:
//   1. K, V rows 0 .. n_kv-1 -> f32 panels Kf, Vf [n_head_kv][n_ctx][head_dim]   (C++)
//      q -> qf, dense f32, rounded to the K cache type as the reference does   (C++)
//   2. S = scale * qf Kf^T           matmul, S [kv heads][group][n_tok][W]
//   3. S[.., t, j] = -inf for j > n_past + t                                  (C++)
//   4. S = softmax(S) over j         softmax primitive, in place
//   5. probabilities rounded to the V cache type, as the reference does      (C++)
//   6. dst = S Vf                    matmul, straight into dst [head_dim*n_head, n_tok]
// Masked probabilities are exactly 0, so panel rows past n_kv (zeros, or finite values of
// another layer) add nothing. When the scores of all heads would exceed kScoreBudget, kv
// heads go in slices that reuse one score buffer. Conversions are C++ because oneDNN 2.6
// converts f16 only in its reference reorder (see onednn_half.cpp).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "onednn_backend.hpp"
#include "onednn_half.hpp"

namespace llamux::onednn {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

constexpr size_t kScoreBudget = size_t{64} << 20;  // bytes of scores held at once
constexpr int64_t kFirstBucket = 256;              // narrowest score width

// The primitives of one score width.
struct Bucket {
    int64_t width = 0;      // W: cache rows covered
    int64_t per_slice = 1;  // kv heads per primitive call
    dnnl::matmul qk, pv;
    dnnl::softmax_forward softmax;
    dnnl::memory q_mem, kt_mem, s_mem, v_mem, o_mem;  // handles set when run
};

struct Shape {
    int64_t hd, n_head, n_tok, n_head_kv, group, n_ctx;
    int64_t out_tok;  // elements between dst rows
};

Bucket make_bucket(const OnednnBackend& b, const Shape& s, int64_t width, float scale) {
    Bucket k;
    k.width = width;
    const size_t per_kv_head = static_cast<size_t>(s.group * s.n_tok * width) * sizeof(float);
    for (int64_t d = s.n_head_kv; d >= 1; --d) {
        if (s.n_head_kv % d == 0 && static_cast<size_t>(d) * per_kv_head <= kScoreBudget) {
            k.per_slice = d;
            break;
        }
    }
    const int64_t p = k.per_slice, g = s.group, hd = s.hd, t = s.n_tok, w = width;
    const int64_t panel_head = s.n_ctx * hd;  // elements between kv heads of a panel
    const dnnl::memory::desc q_md({p, g, t, hd}, dt::f32, dims{g * hd, hd, s.n_head * hd, 1});
    const dnnl::memory::desc kt_md({p, 1, hd, w}, dt::f32, dims{panel_head, panel_head, 1, hd});
    const dnnl::memory::desc s_md({p, g, t, w}, dt::f32, tag::abcd);
    const dnnl::memory::desc v_md({p, 1, w, hd}, dt::f32, dims{panel_head, panel_head, hd, 1});
    const dnnl::memory::desc o_md({p, g, t, hd}, dt::f32, dims{g * hd, hd, s.out_tok, 1});
    dnnl::primitive_attr scaled;
    scaled.set_output_scales(0, {scale});
    const dnnl::matmul::primitive_desc qk_pd(dnnl::matmul::desc(q_md, kt_md, s_md), scaled, b.engine);
    const dnnl::softmax_forward::primitive_desc sm_pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, s_md, 3), b.engine);
    const dnnl::matmul::primitive_desc pv_pd(dnnl::matmul::desc(s_md, v_md, o_md), b.engine);
    log(b, 0, "attention width " + std::to_string(w) + ": qk " + qk_pd.impl_info_str() +
                  ", softmax " + sm_pd.impl_info_str() + ", pv " + pv_pd.impl_info_str() + ", " +
                  std::to_string(s.n_head_kv / p) + " slice(s)");
    k.qk = dnnl::matmul(qk_pd);
    k.softmax = dnnl::softmax_forward(sm_pd);
    k.pv = dnnl::matmul(pv_pd);
    k.q_mem = dnnl::memory(q_md, b.engine, DNNL_MEMORY_NONE);
    k.kt_mem = dnnl::memory(kt_md, b.engine, DNNL_MEMORY_NONE);
    k.s_mem = dnnl::memory(s_md, b.engine, DNNL_MEMORY_NONE);
    k.v_mem = dnnl::memory(v_md, b.engine, DNNL_MEMORY_NONE);
    k.o_mem = dnnl::memory(o_md, b.engine, DNNL_MEMORY_NONE);
    return k;
}

// panel[g][j][:] = cache row j, kv head g, as f32, for rows [0, n_rows).
void fill_panel(const lmx_tensor& cache, float* panel, const Shape& s, int64_t n_rows) {
#pragma omp parallel for collapse(2) schedule(static) if (n_rows * s.n_head_kv > 64)
    for (int64_t g = 0; g < s.n_head_kv; ++g) {
        for (int64_t j = 0; j < n_rows; ++j) {
            const std::byte* row = static_cast<const std::byte*>(cache.data) + static_cast<size_t>(j) * cache.nb[1];
            const size_t esize = cache.dtype == LMX_TYPE_F32 ? 4 : 2;
            half_to_f32(cache.dtype, row + static_cast<size_t>(g * s.hd) * esize,
                        panel + (g * s.n_ctx + j) * s.hd, s.hd);
        }
    }
}

}  // namespace

lmx_status compile_attention(OnednnBackend& b, const lmx_node& node, Program& program,
                             std::string* /*why*/) {
    const lmx_tensor& q = *node.src[0];  // [hd, n_head, n_tok]
    const lmx_tensor& k = *node.src[1];  // [hd*n_head_kv, n_ctx]
    const lmx_tensor& v = *node.src[2];
    const lmx_tensor& out = *node.dst;   // [hd*n_head, n_tok]
    Shape s{};
    s.hd = q.ne[0];
    s.n_head = q.ne[1];
    s.n_tok = q.ne[2];
    s.n_head_kv = node.iparams[1];
    s.group = s.n_head / s.n_head_kv;
    s.n_ctx = k.ne[1];
    s.out_tok = s.n_tok > 1 ? static_cast<int64_t>(out.nb[1] / sizeof(float)) : s.hd * s.n_head;

    auto buckets = std::make_shared<std::vector<Bucket>>();
    size_t score_floats = 0;
    for (int64_t w = std::min(kFirstBucket, s.n_ctx);; w = std::min(2 * w, s.n_ctx)) {
        buckets->push_back(make_bucket(b, s, w, node.fparams[0]));
        const Bucket& last = buckets->back();
        score_floats = std::max(score_floats, static_cast<size_t>(last.per_slice * s.group * s.n_tok * w));
        if (w == s.n_ctx) break;
    }
    const size_t panel_floats = static_cast<size_t>(s.n_head_kv * s.n_ctx * s.hd);
    const size_t q_floats = static_cast<size_t>(s.n_tok * s.n_head * s.hd);
    b.attention_scratch.reserve((2 * panel_floats + q_floats + score_floats) * sizeof(float));

    Step step;
    step.what = std::string("attention ") + (out.name ? out.name : "");
    step.run = [buckets, &b, q, k, v, out, s](const lmx_exec_args& args, std::string* why) {
        const int64_t n_past = args.n_past, n_kv = n_past + s.n_tok;
        if (n_past < 0 || n_kv > s.n_ctx) {
            *why = std::string(k.name ? k.name : "src[1]") + ": n_past " + std::to_string(n_past) +
                   " + " + std::to_string(s.n_tok) + " new tokens expected within the cache's " +
                   std::to_string(s.n_ctx) + " rows, got " + std::to_string(n_kv);
            return LMX_ERR_INVALID;
        }
        Bucket& bucket = *std::find_if(buckets->begin(), buckets->end(),
                                       [&](const Bucket& x) { return x.width >= n_kv; });
        const int64_t w = bucket.width;
        auto* kf = reinterpret_cast<float*>(b.attention_scratch.data());
        float* vf = kf + s.n_head_kv * s.n_ctx * s.hd;
        float* qf = vf + s.n_head_kv * s.n_ctx * s.hd;
        float* scores = qf + s.n_tok * s.n_head * s.hd;

        fill_panel(k, kf, s, n_kv);
        fill_panel(v, vf, s, n_kv);
        const int64_t q_rows = s.n_tok * s.n_head;
#pragma omp parallel for schedule(static) if (q_rows > 64)
        for (int64_t r = 0; r < q_rows; ++r) {  // r = t * n_head + h
            const int64_t t = r / s.n_head, h = r % s.n_head;
            const auto* src = reinterpret_cast<const float*>(
                static_cast<const std::byte*>(q.data) + static_cast<size_t>(t) * q.nb[2] +
                static_cast<size_t>(h) * q.nb[1]);
            float* dst = qf + r * s.hd;
            std::copy(src, src + s.hd, dst);
            round_to(k.dtype, dst, s.hd);  // ggml converts q to the K cache's type
        }

        bucket.s_mem.set_data_handle(scores);
        const int64_t rows = bucket.per_slice * s.group * s.n_tok;  // score rows per slice
        for (int64_t first = 0; first < s.n_head_kv; first += bucket.per_slice) {
            bucket.q_mem.set_data_handle(qf + first * s.group * s.hd);
            bucket.kt_mem.set_data_handle(kf + first * s.n_ctx * s.hd);
            bucket.v_mem.set_data_handle(vf + first * s.n_ctx * s.hd);
            bucket.o_mem.set_data_handle(static_cast<float*>(out.data) + first * s.group * s.hd);
            bucket.qk.execute(b.stream, {{DNNL_ARG_SRC, bucket.q_mem},
                                         {DNNL_ARG_WEIGHTS, bucket.kt_mem},
                                         {DNNL_ARG_DST, bucket.s_mem}});
            b.stream.wait();
            // Causal mask: query t sees rows 0 .. n_past + t.
#pragma omp parallel for schedule(static) if (rows > 16)
            for (int64_t r = 0; r < rows; ++r) {
                float* row = scores + r * w;
                std::fill(row + n_past + r % s.n_tok + 1, row + w, -std::numeric_limits<float>::infinity());
            }
            bucket.softmax.execute(b.stream, {{DNNL_ARG_SRC, bucket.s_mem}, {DNNL_ARG_DST, bucket.s_mem}});
            b.stream.wait();
            if (v.dtype != LMX_TYPE_F32) {  // ggml stores the probabilities as V's type
#pragma omp parallel for schedule(static) if (rows > 16)
                for (int64_t r = 0; r < rows; ++r) round_to(v.dtype, scores + r * w, n_past + r % s.n_tok + 1);
            }
            bucket.pv.execute(b.stream, {{DNNL_ARG_SRC, bucket.s_mem},
                                         {DNNL_ARG_WEIGHTS, bucket.v_mem},
                                         {DNNL_ARG_DST, bucket.o_mem}});
        }
        return LMX_OK;
    };
    step.host = true;  // reads the cache and q in C++ first: earlier primitives must be done
    program.steps.push_back(std::move(step));
    return LMX_OK;
}

}  // namespace llamux::onednn
