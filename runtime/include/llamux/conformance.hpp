// The op-conformance suite: every op of the plugin ABI, over a fixed list of dtypes and
// awkward shapes, run on one backend through its real ABI calls and compared with the
// reference implementation (ops_ref.hpp) on the host. What `llamux test-backend` prints.
//
// For each case the suite
//  1. asks supports_node with data pointers still null (as the scheduler does); a 0 is
//     counted as declined, not as a failure: the host backend would run that node;
//  2. prepares weights with prepare_weight (from host memory that stays valid until
//     release_weight), allocates one buffer for the other tensors with buffer_alloc, and
//     writes their contents with tensor_write (outputs are filled with NaN bytes, so an
//     element the backend never writes shows up);
//  3. compiles the single node once and executes it for each n_past of the case (KV store
//     and attention run twice on one program: n_past is an execution argument), then
//     synchronizes and reads the output back with tensor_read;
//  4. compares every output element with run_node_ref's result on the same host inputs.
//
// Error bounds, per output element (eps = 2^-23, the float machine epsilon; u = eps / 2):
//  - get_rows: exact for F32/F16/BF16 tables (they are conversions); quantized tables
//    16 eps * max|row|: dequantizing is d * q (+ m), and FMA or operation order may
//    change a few roundings.
//  - add, copy, kv_store: exact. One IEEE operation or conversion (round to nearest even)
//    has one correct result; kv_store must also leave every other cache row untouched.
//  - rms_norm: (2 sqrt(n) + 8) eps |y|. The sum of n squares may be accumulated in float
//    in any order; the rounding errors of a sum of positive terms grow like sqrt(n) for
//    serial, blocked and pairwise sums (the worst case, n eps, is tolerated by no real
//    kernel and would hide a mean over n - 1).
//  - swiglu: 32 eps |y| + 4 eps |g u|. exp() approximations of a few ulp are fine; the
//    second term admits formulations through tanh that cancel for negative g.
//  - matmul, per output y_n = sum_k w_nk x_k (w dequantized):
//        2 K u sum_k |w_nk x_k|  +  6 sqrt(sum_k (|w_nk| step_k)^2 + (tau w_nk x_k)^2)
//    The first term is the rounding error of any summation order of K products (Higham's
//    worst case, for the reference's order and the backend's). The second bounds operand
//    rounding: for quantized weights the reference quantizes x to Q8_0 / Q8_K (as
//    llama.cpp's CPU path does) while a backend may keep x in float or quantize it its own
//    way, so x_k may differ by one Q8 step, step_k = max|x over k's block| / 127 (0 for
//    float weights); tau is 0 for F32 weights, 2^-10 for F16 (x rounded to f16 or not), 2^-7
//    for BF16, and 2^-7 for quantized weights (a backend may dequantize them to bf16 and
//    round x to bf16, which loses nothing a 4..8-bit weight still had). These rounding
//    errors are independent and bounded, so their sum exceeds 6 root-sum-squares with
//    probability below 3e-8 (Hoeffding); the worst case, sum |w| step, would hide a whole
//    missing block at K = 1792.
//  - rope: (|x0| + |x1|) ((i + 4) eps theta_i + 8 eps) for the pair i of an element,
//    theta_i = |p freq_scale| base^(-2i/n_rot); ggml builds theta_i with i float
//    multiplications and a backend may use powf, so the angles differ by about i ulp.
//    Dimensions >= n_rot are copied: exact.
//  - attention: (2.5 dS + tau_p + (n_kv + 8) eps) max_j |v_jd|, with
//        dS = scale (2 head_dim u + tau_q) max_j sum_d |q_d k_jd| + 4 eps
//    the bound on a score's error (tau_q: 0 for an F32 K cache, 2^-10 F16, 2^-7 BF16: the
//    reference rounds q to the cache type, a backend need not), propagated through the
//    softmax (|dp_j| <= 2 dS p_j); tau_p (same values, for the V cache) because the
//    reference rounds the probabilities to the V cache type before multiplying.
// Apart from the two that rest on the statistics of rounding errors (rms_norm's and
// matmul's second term), a bound is an upper limit on |backend - reference| that a correct
// implementation cannot exceed. Bugs in indexing, masking, GQA mapping or block layouts give
// errors of the order of the values themselves. Rationale: docs/writing-a-backend.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "llamux/backend.hpp"

namespace llamux {

struct ConformanceOptions {
    std::string op;            // only the cases of this op ("matmul"); empty: every op
    uint32_t seed = 20240611;  // inputs are random but the same for one seed
};

enum class CaseStatus { passed, failed, declined };

// One execution of one case.
struct ConformanceResult {
    std::string op;      // "matmul"
    std::string dtypes;  // "q4_K x f32 -> f32"
    std::string shape;   // "K=512 N=13 M=3"
    CaseStatus status = CaseStatus::declined;
    double error = 0.0;  // |backend - reference| at the worst element (largest error/bound)
    double bound = 0.0;  // the bound at that element
    std::string message; // for a failure: the element and both values, or the backend's error
};

struct ConformanceReport {
    std::vector<ConformanceResult> results;
    size_t count(CaseStatus status) const;
    size_t passed() const { return count(CaseStatus::passed); }
    size_t failed() const { return count(CaseStatus::failed); }
    size_t declined() const { return count(CaseStatus::declined); }
};

// The op names the suite knows (what --op accepts), in ABI order.
std::vector<std::string> conformance_ops();

// Runs the cases on `backend`. A case's failure (a wrong value, or an error status from
// any call of the backend) is recorded in its result, never thrown; `on_result`, when set,
// sees each result as soon as it is known. Throws Error for an unknown options.op.
ConformanceReport run_conformance(Backend& backend, const ConformanceOptions& options,
                                  const std::function<void(const ConformanceResult&)>& on_result = {});

}  // namespace llamux
