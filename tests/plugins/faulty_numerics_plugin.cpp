// Faulty test plugin "faulty_numerics": runs and reports success, but with one of the
// subtle numerical bugs fast kernels tend to have, chosen by LLAMUX_TEST_BUG. It exists
// to show that the conformance suite's bounds catch them:
//   rms_norm_n_minus_1    the mean of squares divided by n - 1
//   matmul_f32_low_prec   F32-weight products off by 2^-10 relative (tf32-like compute)
//   attention_next_row    the causal mask lets each query see one cache row too many
//   matmul_skips_last_block   quantized weights: the last block of each row left out
// Without LLAMUX_TEST_BUG it is a correct reference backend. LLAMUX_TEST_VARIANT instead
// selects a legitimate alternative computation (numerics_variants.hpp) that the suite must
// accept.
#include <cmath>
#include <cstdlib>
#include <vector>

#define FAULTY_PLUGIN_NAME "faulty_numerics"
#include "faulty_plugin_base.hpp"
#include "numerics_variants.hpp"
#include "llamux/quant_ref.hpp"

namespace faulty {
namespace {

bool bug(const char* name) {
    const char* env = std::getenv("LLAMUX_TEST_BUG");
    return env && std::string(env) == name;
}

float* f32_row(const lmx_tensor& t, int64_t r) {
    return reinterpret_cast<float*>(static_cast<char*>(t.data) + static_cast<size_t>(r) * t.nb[1]);
}
int64_t rows(const lmx_tensor& t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

void scale_all(const lmx_tensor& t, float factor) {
    for (int64_t r = 0; r < rows(t); ++r) {
        float* y = f32_row(t, r);
        for (int64_t i = 0; i < t.ne[0]; ++i) y[i] *= factor;
    }
}

}  // namespace

lmx_status on_create(lmx_error*) { return LMX_OK; }
lmx_status on_prepare(const lmx_tensor&, int64_t, lmx_error*) { return LMX_OK; }
bool claims(const lmx_node& node) { return llamux::supports_node_ref(node); }
lmx_status on_compile(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }
lmx_status on_execute(const lmx_node&, int32_t, int32_t, lmx_error*) { return LMX_OK; }

void after_node(const lmx_node& node, const lmx_exec_args& args) {
    if (const char* variant = std::getenv("LLAMUX_TEST_VARIANT"); variant && *variant) {
        apply_variant(variant, node, args);
    }
    if (node.op == LMX_OP_RMS_NORM && bug("rms_norm_n_minus_1") && node.dst->ne[0] > 1) {
        // 1/sqrt(S/(n-1)) = 1/sqrt(S/n) * sqrt((n-1)/n) when eps is negligible
        const auto n = static_cast<double>(node.dst->ne[0]);
        scale_all(*node.dst, static_cast<float>(std::sqrt((n - 1) / n)));
    }
    if (node.op == LMX_OP_MATMUL && bug("matmul_f32_low_prec") && node.src[0]->dtype == LMX_TYPE_F32) {
        scale_all(*node.dst, 1.0f + 1.0f / 1024.0f);
    }
    if (node.op == LMX_OP_MATMUL && bug("matmul_skips_last_block")) {
        const lmx_tensor& w = *node.src[0];
        const lmx_tensor& x = *node.src[1];
        const auto wtype = static_cast<llamux::DType>(w.dtype);
        const int64_t K = w.ne[0], bs = llamux::info(wtype).block_size;
        if (llamux::info(wtype).quantized && K / bs >= 2) {
            std::vector<float> wr(static_cast<size_t>(K));
            for (int64_t n = 0; n < w.ne[1]; ++n) {
                llamux::dequantize_row_ref(wtype, static_cast<const char*>(w.data) + n * w.nb[1], wr.data(), K);
                for (int64_t m = 0; m < rows(x); ++m) {
                    const float* xm = f32_row(x, m);
                    float last = 0.0f;
                    for (int64_t k = K - bs; k < K; ++k) last += wr[static_cast<size_t>(k)] * xm[k];
                    f32_row(*node.dst, m)[n] -= last;
                }
            }
        }
    }
    if (node.op == LMX_OP_ATTENTION && bug("attention_next_row")) {
        lmx_exec_args one_more = args;  // query t now sees rows 0 .. n_past + t + 1
        one_more.n_past = args.n_past + 1;
        std::string ignored;
        if (args.n_past + 1 + node.dst->ne[1] <= node.src[1]->ne[1]) {
            llamux::run_node_ref(node, one_more, &ignored);
        }
    }
}

}  // namespace faulty
