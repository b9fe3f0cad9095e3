// Which nodes the oneDNN backend takes, and how a run of them becomes a program: primitive
// descriptors and primitives are built here, once per shape; execute only runs them.
#include <algorithm>
#include <cstddef>
#include <unordered_map>
#include <string>

#include "llamux/ir.hpp"
#include "llamux/ops_ref.hpp"
#include "llamux/plugin_support.hpp"
#include "onednn_backend.hpp"
#include "onednn_half.hpp"

namespace llamux::onednn {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

bool floats_apart(size_t bytes) { return bytes % sizeof(float) == 0; }

// An F32 tensor whose strides are whole elements, so a memory desc can describe it.
bool f32_layout_ok(const lmx_tensor& t) {
    if (t.dtype != LMX_TYPE_F32 || t.nb[0] != sizeof(float)) return false;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) {
        if (!floats_apart(t.nb[k])) return false;
    }
    return true;
}

// Strides in elements of the dimensions that are not 1 agree (a shape that differs only in
// how its 1s are placed is the same layout).
bool same_layout(const lmx_tensor& a, const lmx_tensor& b) {
    for (int k = 0; k < LMX_MAX_DIMS; ++k) {
        if (a.ne[k] != b.ne[k]) return false;
        if (a.ne[k] > 1 && a.nb[k] != b.nb[k]) return false;
    }
    return true;
}

int64_t elements_between(size_t bytes, size_t element) { return static_cast<int64_t>(bytes / element); }

// An F32 activation: {rows, ne0} when its rows are evenly spaced, else the full 4-D shape.
dnnl::memory::desc f32_md(const lmx_tensor& t) {
    const int64_t rows = t.ne[1] * t.ne[2] * t.ne[3];
    const size_t row_stride = t.nb[1];
    bool even = true;
    size_t expected = row_stride * static_cast<size_t>(t.ne[1]);
    for (int k = 2; k < LMX_MAX_DIMS; ++k) {
        if (t.ne[k] > 1 && t.nb[k] != expected) even = false;
        expected *= static_cast<size_t>(t.ne[k]);
    }
    if (even) {
        const int64_t ld = rows > 1 ? elements_between(row_stride, sizeof(float)) : t.ne[0];
        return dnnl::memory::desc({rows, t.ne[0]}, dt::f32, dims{ld, 1});
    }
    return dnnl::memory::desc({t.ne[3], t.ne[2], t.ne[1], t.ne[0]}, dt::f32,
                              dims{elements_between(t.nb[3], sizeof(float)),
                                   elements_between(t.nb[2], sizeof(float)),
                                   elements_between(t.nb[1], sizeof(float)), 1});
}

// First and one-past-last byte a tensor's elements occupy.
std::pair<const std::byte*, const std::byte*> byte_range(const lmx_tensor& t) {
    const auto ti = dtype_info(t.dtype);
    const size_t row = ti ? static_cast<size_t>(t.ne[0] / ti->block_size) * ti->type_size : 0;
    size_t last = row;
    for (int k = 1; k < LMX_MAX_DIMS; ++k) last += static_cast<size_t>(t.ne[k] - 1) * t.nb[k];
    const auto* begin = static_cast<const std::byte*>(t.data);
    return {begin, begin + last};
}

bool overlaps(const lmx_tensor& a, const lmx_tensor& b) {
    const auto [a0, a1] = byte_range(a);
    const auto [b0, b1] = byte_range(b);
    return a0 < b1 && b0 < a1;
}

// "matmul l3.q (layer 3)"
std::string node_label(const lmx_node& node) {
    std::string s = node.op > LMX_OP_NONE && node.op < LMX_OP_COUNT
                        ? std::string(op_name(static_cast<lmx_op>(node.op)))
                        : "op " + std::to_string(node.op);
    s += ' ';
    s += node.dst && node.dst->name ? node.dst->name : "(unnamed)";
    if (node.layer >= 0) s += " (layer " + std::to_string(node.layer) + ")";
    return s;
}

size_t element_size(int32_t dtype) { return dtype == LMX_TYPE_F32 ? 4 : 2; }

// The cache types its KV store and attention read and write (a quantized cache stays on the host).
bool is_half_or_f32(int32_t dtype) {
    return dtype == LMX_TYPE_F32 || dtype == LMX_TYPE_F16 || dtype == LMX_TYPE_BF16;
}

// A primitive step: runs `prim` with `args` (whose memory objects wrap final addresses).
Step primitive_step(std::string what, dnnl::primitive prim,
                    std::unordered_map<int, dnnl::memory> args, dnnl::stream stream) {
    Step s;
    s.what = std::move(what);
    s.run = [prim = std::move(prim), args = std::move(args), stream](const lmx_exec_args&,
                                                                      std::string*) mutable {
        prim.execute(stream, args);
        return LMX_OK;
    };
    return s;
}

class Compiler {
public:
    Compiler(OnednnBackend& b, Program& program) : b_(b), program_(program) {}

    lmx_status node(const lmx_node& n, std::string* why);

private:
    lmx_status matmul(const lmx_node& n, std::string* why);
    void add(const lmx_node& n);
    void swiglu(const lmx_node& n);
    void kv_store(const lmx_node& n);
    void note_impl(const std::string& what, const char* impl);

    dnnl::memory wrap(const dnnl::memory::desc& md, const lmx_tensor& t) {
        return dnnl::memory(md, b_.engine, t.data);
    }

    OnednnBackend& b_;
    Program& program_;
    // The activation whose bf16 copy sits in matmul_scratch at this point of the program,
    // so that the q/k/v and gate/up matmuls convert their shared input once.
    const lmx_tensor* converted_ = nullptr;
};

void Compiler::note_impl(const std::string& what, const char* impl) {
    const std::string name = impl ? impl : "?";
    log(b_, 0, what + ": " + name);
    if (name.rfind("ref", 0) == 0) {
        log(b_, 3, what + ": oneDNN has only its reference implementation (" + name +
                       ") for this shape; expect it to be slow");
    }
}

lmx_status Compiler::matmul(const lmx_node& n, std::string* why) {
    const lmx_tensor& w = *n.src[0];
    const lmx_tensor& x = *n.src[1];  // [K, M]
    const lmx_tensor& y = *n.dst;     // [N, M]
    const auto* weight = static_cast<const PreparedWeight*>(w.extra);
    if (!weight) {
        *why = std::string("weight ") + (w.name ? w.name : "src[0]") +
               ": expected a weight prepared by the onednn backend (extra is null)";
        return LMX_ERR_INVALID;
    }
    const int64_t m = x.ne[1], k = x.ne[0], nn = weight->n;
    const dnnl::memory::desc w_md = weight->mem.get_desc();
    const dt wt = w_md.data_type();
    const dnnl::memory::desc x_md({m, k}, dt::f32, dims{m > 1 ? elements_between(x.nb[1], 4) : k, 1});
    const dnnl::memory::desc y_md({m, nn}, dt::f32, dims{m > 1 ? elements_between(y.nb[1], 4) : nn, 1});
    const std::string what = node_label(n);

    dnnl::memory src = wrap(x_md, x);
    if (wt != dt::f32) {
        const dnnl::memory::desc xc_md({m, k}, wt, tag::ab);
        b_.matmul_scratch.reserve(xc_md.get_size());
        dnnl::memory converted(xc_md, b_.engine, DNNL_MEMORY_NONE);
        if (converted_ != &x) {
            dnnl::reorder::primitive_desc rpd(b_.engine, x_md, b_.engine, xc_md);
            Step s;
            s.what = what + " (input to bf16)";
            s.run = [prim = dnnl::reorder(rpd), from = src, to = converted, &b = b_](
                        const lmx_exec_args&, std::string*) mutable {
                to.set_data_handle(b.matmul_scratch.data());
                prim.execute(b.stream, from, to);
                return LMX_OK;
            };
            program_.steps.push_back(std::move(s));
            converted_ = &x;
        }
        src = converted;
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src.get_desc(), w_md, y_md), b_.engine);
    note_impl(what, pd.impl_info_str());
    Step s;
    s.what = what;
    s.run = [prim = dnnl::matmul(pd), src, wm = weight->mem, dst = wrap(y_md, y), &b = b_,
             scratch = wt != dt::f32](const lmx_exec_args&, std::string*) mutable {
        if (scratch) src.set_data_handle(b.matmul_scratch.data());
        prim.execute(b.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, dst}});
        return LMX_OK;
    };
    program_.steps.push_back(std::move(s));
    return LMX_OK;
}

void Compiler::add(const lmx_node& n) {
    const lmx_tensor& a = *n.src[0];
    const lmx_tensor& c = *n.src[1];
    const lmx_tensor& y = *n.dst;
    const dnnl::memory::desc a_md = f32_md(a), c_md = f32_md(c), y_md = f32_md(y);
    const dnnl::binary::primitive_desc pd(
        dnnl::binary::desc(dnnl::algorithm::binary_add, a_md, c_md, y_md), b_.engine);
    note_impl(node_label(n), pd.impl_info_str());
    program_.steps.push_back(primitive_step(
        node_label(n), dnnl::binary(pd),
        {{DNNL_ARG_SRC_0, wrap(a_md, a)}, {DNNL_ARG_SRC_1, wrap(c_md, c)}, {DNNL_ARG_DST, wrap(y_md, y)}},
        b_.stream));
}

// dst = silu(g) * u: eltwise swish (x * sigmoid(1 * x)) into dst, then dst *= u in place.
// (oneDNN 2.6 runs eltwise with a binary post-op only in its reference implementation.)
void Compiler::swiglu(const lmx_node& n) {
    const lmx_tensor& g = *n.src[0];
    const lmx_tensor& u = *n.src[1];
    const lmx_tensor& y = *n.dst;
    const dnnl::memory::desc g_md = f32_md(g), u_md = f32_md(u);
    const dnnl::eltwise_forward::primitive_desc act_pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference,
                                    dnnl::algorithm::eltwise_swish, g_md, 1.0f, 0.0f),
        b_.engine);
    const dnnl::binary::primitive_desc mul_pd(
        dnnl::binary::desc(dnnl::algorithm::binary_mul, g_md, u_md, g_md), b_.engine);
    const std::string what = node_label(n);
    note_impl(what + " (swish)", act_pd.impl_info_str());
    note_impl(what + " (mul)", mul_pd.impl_info_str());
    const dnnl::memory y_mem = wrap(g_md, y);  // same layout as g: checked by supports()
    program_.steps.push_back(primitive_step(what, dnnl::eltwise_forward(act_pd),
                                            {{DNNL_ARG_SRC, wrap(g_md, g)}, {DNNL_ARG_DST, y_mem}},
                                            b_.stream));
    program_.steps.push_back(primitive_step(
        what, dnnl::binary(mul_pd),
        {{DNNL_ARG_SRC_0, y_mem}, {DNNL_ARG_SRC_1, wrap(u_md, u)}, {DNNL_ARG_DST, y_mem}}, b_.stream));
}

// cache rows n_past .. n_past+n_tok-1 = src converted to the cache type, in C++ (oneDNN
// 2.6 converts to f16 only in its reference reorder, see onednn_half.cpp).
void Compiler::kv_store(const lmx_node& n) {
    const lmx_tensor& src = *n.src[0];
    const lmx_tensor& cache = *n.dst;
    Step s;
    s.what = node_label(n);
    s.host = true;
    s.run = [src, cache](const lmx_exec_args& args, std::string* why) {
        const bool three_d = src.ne[2] > 1 || src.ne[0] != cache.ne[0];
        const int64_t n_tok = three_d ? src.ne[2] : src.ne[1];
        const size_t src_row = three_d ? src.nb[2] : src.nb[1];
        const int64_t n_ctx = cache.ne[1];
        if (args.n_past < 0 || args.n_past + n_tok > n_ctx) {
            *why = std::string(cache.name ? cache.name : "dst") + ": n_past " +
                   std::to_string(args.n_past) + " + " + std::to_string(n_tok) +
                   " new tokens expected within the cache's " + std::to_string(n_ctx) +
                   " rows, got " + std::to_string(args.n_past + n_tok);
            return LMX_ERR_INVALID;
        }
#pragma omp parallel for schedule(static) if (n_tok > 1)
        for (int64_t t = 0; t < n_tok; ++t) {
            const auto* row = reinterpret_cast<const float*>(static_cast<const std::byte*>(src.data) +
                                                             static_cast<size_t>(t) * src_row);
            f32_to_half(cache.dtype, row,
                        static_cast<std::byte*>(cache.data) +
                            static_cast<size_t>(args.n_past + t) * cache.nb[1],
                        cache.ne[0]);
        }
        return LMX_OK;
    };
    program_.steps.push_back(std::move(s));
}

lmx_status Compiler::node(const lmx_node& n, std::string* why) {
    lmx_status status = LMX_OK;
    switch (n.op) {
        case LMX_OP_MATMUL: status = matmul(n, why); break;
        case LMX_OP_ADD: add(n); break;
        case LMX_OP_SWIGLU: swiglu(n); break;
        case LMX_OP_KV_STORE: kv_store(n); break;
        case LMX_OP_ATTENTION: status = compile_attention(b_, n, program_, why); break;
        case LMX_OP_RMS_NORM:
        case LMX_OP_ROPE: {
            Step s;
            s.what = node_label(n);
            s.host = true;
            s.run = [n](const lmx_exec_args&, std::string*) {
                if (n.op == LMX_OP_RMS_NORM) {
                    run_rms_norm(n);
                } else {
                    run_rope(n);
                }
                return LMX_OK;
            };
            program_.steps.push_back(std::move(s));
            break;
        }
        default:
            *why = "op not handled by the onednn backend";
            return LMX_ERR_UNSUPPORTED;
    }
    // A node that overwrites the converted activation's memory ends its reuse.
    if (converted_ && n.dst && overlaps(*n.dst, *converted_)) converted_ = nullptr;
    return status;
}

}  // namespace

bool supports(const OnednnBackend& /*b*/, const lmx_node& node) {
    if (!supports_node_ref(node)) return false;  // shapes, dtypes and params are consistent
    const lmx_tensor* s0 = node.src[0];
    const lmx_tensor* s1 = node.src[1];
    const lmx_tensor& dst = *node.dst;
    switch (node.op) {
        case LMX_OP_MATMUL:
            // Weights prepared at load (2-D, a type the converter reads); x and dst 2-D F32.
            return s0->role == LMX_ROLE_WEIGHT && is_matmul_weight(*s0) && s1->ne[2] == 1 &&
                   s1->ne[3] == 1 && f32_layout_ok(*s1) && f32_layout_ok(dst);
        case LMX_OP_ADD:
            return f32_layout_ok(*s0) && f32_layout_ok(*s1) && f32_layout_ok(dst);
        case LMX_OP_SWIGLU:
            // The swish writes dst in g's layout.
            return f32_layout_ok(*s0) && f32_layout_ok(*s1) && same_layout(*s0, dst);
        case LMX_OP_KV_STORE: {
            const bool three_d = s0->ne[2] > 1 || s0->ne[0] != dst.ne[0];
            return is_half_or_f32(dst.dtype) && f32_layout_ok(*s0) && dst.nb[1] % element_size(dst.dtype) == 0 &&
                   (!three_d || s0->ne[1] == 1 || s0->nb[1] == static_cast<size_t>(s0->ne[0]) * 4);
        }
        case LMX_OP_ATTENTION: {
            const lmx_tensor& k = *node.src[1];
            const lmx_tensor& v = *node.src[2];
            return is_half_or_f32(k.dtype) && is_half_or_f32(v.dtype) && f32_layout_ok(*s0) && f32_layout_ok(dst) &&
                   k.nb[1] % element_size(k.dtype) == 0 &&
                   v.nb[1] % element_size(v.dtype) == 0 && k.nb[0] == element_size(k.dtype) &&
                   v.nb[0] == element_size(v.dtype);
        }
        case LMX_OP_RMS_NORM:
        case LMX_OP_ROPE:
            return true;  // plain C++ over rows, any row strides, as the reference
        default:
            // GET_ROWS (the token embedding stays on the host) and COPY: declined.
            return false;
    }
}

lmx_status compile(OnednnBackend& b, const lmx_node* nodes, int32_t n_nodes, Program& program,
                   std::string* why) {
    program.threads = plugin::program_threads(b.config, nodes, n_nodes, b.n_threads);
    ThreadScope threads(program.threads);
    Compiler compiler(b, program);
    for (int32_t i = 0; i < n_nodes; ++i) {
        const lmx_node& n = nodes[i];
        if (!n.dst || !supports(b, n)) {
            *why = node_label(n) + ": not supported by the onednn backend";
            return LMX_ERR_UNSUPPORTED;
        }
        try {
            const lmx_status s = compiler.node(n, why);
            if (s != LMX_OK) {
                *why = node_label(n) + ": " + *why;
                return s;
            }
        } catch (const dnnl::error& e) {
            *why = node_label(n) + ": oneDNN: " + e.what();
            return LMX_ERR_UNSUPPORTED;
        }
    }
    log_weight_total(b);
    return LMX_OK;
}

}  // namespace llamux::onednn
