// Legitimate alternative numerics of the faulty_numerics test plugin (numerics_variants.cpp).
#pragma once

#include <string>

#include "llamux/backend_abi.h"

namespace faulty {

// Recomputes node.dst (host memory) the way `variant` names, if it applies to node.op:
//   matmul_float_activations  dequantized weights times float x, serial float sum
//   matmul_bf16               the same with both operands rounded to bf16
//   attention_online_softmax  float scores, online softmax, no half-precision rounding
//   rope_powf                 angles from powf
//   rms_norm_float_sum        the sum of squares in float
//   swiglu_tanh               silu through tanh
void apply_variant(const std::string& variant, const lmx_node& node, const lmx_exec_args& args);

}  // namespace faulty
