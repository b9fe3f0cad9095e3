// Runs of nodes as one program through the CUDA backend plugin (its fusions: cuda.md's
// "Fewer launches"), against the reference ops run one by one. They need a GPU, or the
// emulated plugin (test_cuda_backend_emulated), which ctest runs at several fusion levels.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <utility>

#include "cuda_test_support.hpp"
#include "llamux/ir.hpp"
#include "llamux/ops_ref.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using namespace cuda_test;

// Runs the nodes as one program on a fresh cuda backend (each tensor uploaded once, the
// way run_on_gpu uploads one node's), twice (the second run replays a CUDA graph where the
// program allows one), and returns the tensors `read` as floats.
std::vector<std::vector<float>> run_program_on_gpu(const std::vector<lmx_node>& host_nodes,
                                                   const std::vector<const lmx_tensor*>& read) {
    auto backend = Backend::create(cuda_plugin(), BackendOptions{});
    std::deque<lmx_tensor> device;
    std::map<const lmx_tensor*, lmx_tensor*> on_device;
    std::vector<BackendBuffer> buffers;
    std::vector<lmx_tensor*> weights;
    auto upload = [&](const lmx_tensor* h) -> lmx_tensor* {
        if (const auto it = on_device.find(h); it != on_device.end()) return it->second;
        lmx_tensor& d = device.emplace_back(*h);
        d.data = nullptr;
        d.extra = nullptr;
        if (h->role == LMX_ROLE_WEIGHT) {
            backend->prepare_weight(d, h->data);
            weights.push_back(&d);
        } else {
            const size_t size = h->nb[3] * static_cast<size_t>(h->ne[3]);
            buffers.push_back(backend->allocate(size));
            d.data = buffers.back().base();
            backend->write(d, h->data, 0, size);
        }
        return on_device[h] = &d;
    };
    std::vector<lmx_node> nodes = host_nodes;
    for (lmx_node& node : nodes) {
        for (auto& s : node.src) {
            if (s) s = upload(s);
        }
        node.dst = upload(node.dst);
        EXPECT_TRUE(backend->supports(node)) << op_name(static_cast<lmx_op>(node.op));
    }
    backend->synchronize();
    std::vector<std::vector<float>> out;
    {
        BackendProgram program = backend->compile(nodes.data(), static_cast<int32_t>(nodes.size()), "test program");
        lmx_exec_args args{};
        args.struct_size = sizeof(args);
        for (int run = 0; run < 2; ++run) backend->execute(program, args, "test program");  // run 2: the graph
        backend->synchronize();
        for (const lmx_tensor* h : read) {
            std::vector<std::byte> bytes(h->nb[3] * static_cast<size_t>(h->ne[3]));
            backend->read(*on_device.at(h), bytes.data(), 0, bytes.size());
            out.push_back(as_floats(*h, bytes.data()));
        }
    }
    for (lmx_tensor* w : weights) backend->release_weight(*w);
    return out;
}

// An activation row of n floats.
std::unique_ptr<HostTensor> act(const std::string& name, int64_t n) {
    return make_tensor(name, DType::F32, LMX_ROLE_ACTIVATION, {n, 1, 1, 1});
}

// A node of the fusion tests (eps 1e-5 for the norms).
lmx_node fusion_node(lmx_op op, lmx_tensor* a, lmx_tensor* b, lmx_tensor* dst) {
    lmx_node n{};
    n.op = op;
    n.src[0] = a;
    n.src[1] = b;
    n.dst = dst;
    n.fparams[0] = 1e-5f;
    return n;
}

// Runs the nodes as one program on the GPU (run_program_on_gpu: twice) and one by one with
// the reference ops (twice too: a residual grows in place), then compares each named tensor.
// 1e-2 of the row's largest value leaves room for an activation landing on the other side
// of a rounding step (~4e-3 each for Q8_0), a wrong fusion gives O(1).
void expect_program_matches_reference(const std::vector<lmx_node>& nodes,
                                      const std::vector<std::pair<const char*, const lmx_tensor*>>& named) {
    std::vector<const lmx_tensor*> read;
    for (const auto& [name, t] : named) read.push_back(t);
    const std::vector<std::vector<float>> gpu = run_program_on_gpu(nodes, read);
    lmx_exec_args args{};
    args.struct_size = sizeof(args);
    for (int run = 0; run < 2; ++run) {
        for (const lmx_node& n : nodes) {
            std::string error;
            ASSERT_EQ(run_node_ref(n, args, &error), LMX_OK) << error;
        }
    }
    for (size_t i = 0; i < read.size(); ++i) {
        EXPECT_LE(test::relative_row_error(gpu[i], as_floats(*read[i], read[i]->data)), 1e-2) << named[i].first;
    }
}

// The second half of a Llama layer and the start of the next, one token, Q4_0 weights, as
// the graph builder orders it: attn_output, the residual add, ffn_norm, gate, up, SwiGLU,
// ffn_down, the add, the next attn_norm and a product on it: 13 launches without fusions,
// 8 at level 3, 6 at 5, 5 at 6 (LLAMUX_CUDA_FUSE; ctest runs it at 3, at 6 in the reverse
// block order, and at 6 with split blocks; gpu_run.sh at 2 to 6). The products ending in
// the add + norm (5) and gate/up ending in the SwiGLU (6) need rows longer than the model
// fixtures' 256 (the norm's last block loops), so n_embd is 1312 (41 blocks of 32, 328
// four-element pieces: two passes of the last block, the second partial) and n_ff 416 (13
// blocks of h, each rounded by the last of its warps).
// Against the reference ops run one by one: the same rounding points, sums in another
// order (1e-7 on the emulator at every level).
TEST(CudaFusions, FfnHalfOfALayerMatchesTheReference) {
    LLAMUX_REQUIRE_GPU();
    const int64_t E = 1312, F = 416;
    const auto weight = [](const std::string& name, int64_t k, int64_t n, uint32_t seed) {
        auto w = make_tensor(name, DType::Q4_0, LMX_ROLE_WEIGHT, {k, n, 1, 1});
        fill_random(*w, seed, 0.1f);
        return w;
    };
    auto wo = weight("wo", E, E, 20), wg = weight("w_gate", E, F, 21), wu = weight("w_up", E, F, 22);
    auto wd = weight("w_down", F, E, 23), wq = weight("wq", E, E, 24);
    auto norm_w1 = make_tensor("ffn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto norm_w2 = make_tensor("attn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto attn = act("attn_out", E), res = act("residual", E), o = act("wo_out", E), n1 = act("ffn_in", E);
    auto g = act("gate", F), u = act("up", F), h = act("ffn_act", F), d = act("down", E), n2 = act("attn_in", E);
    auto q = act("q", E);
    fill_random(*attn, 25);
    fill_random(*res, 26, 4.0f);
    fill_random(*norm_w1, 27);
    fill_random(*norm_w2, 28);
    const std::vector<lmx_node> nodes = {
        fusion_node(LMX_OP_MATMUL, &wo->t, &attn->t, &o->t),
        fusion_node(LMX_OP_ADD, &res->t, &o->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w1->t, &n1->t),
        fusion_node(LMX_OP_MATMUL, &wg->t, &n1->t, &g->t),
        fusion_node(LMX_OP_MATMUL, &wu->t, &n1->t, &u->t),
        fusion_node(LMX_OP_SWIGLU, &g->t, &u->t, &h->t),
        fusion_node(LMX_OP_MATMUL, &wd->t, &h->t, &d->t),
        fusion_node(LMX_OP_ADD, &res->t, &d->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w2->t, &n2->t),
        fusion_node(LMX_OP_MATMUL, &wq->t, &n2->t, &q->t),
    };
    expect_program_matches_reference(
        nodes, {{"SwiGLU", &h->t}, {"residual", &res->t}, {"attn_norm", &n2->t}, {"q", &q->t}});
}

// The norms of a K-quant file round for Q8_K matmuls (blocks of 256, two warps' worth of the
// norm kernels' four-element pieces): attn_output (Q4_K, 256 -> E), the residual add, the
// next attn_norm and a Q4_K product on it. At levels 2 to 4 the add + norm + rounding is one
// launch (the one-row kernel; E = 4352 = 17 blocks takes its second pass of pieces, partly
// filled), at 5 and 6 the product's last block does them (five passes of its 256 pieces, the
// last partial). Bound as in the test above.
TEST(CudaFusions, Q8KRoundingNormMatchesTheReference) {
    LLAMUX_REQUIRE_GPU();
    const int64_t A = 256, E = 4352, N = 64;
    auto wo = make_tensor("wo", DType::Q4_K, LMX_ROLE_WEIGHT, {A, E, 1, 1});
    auto wq = make_tensor("wq", DType::Q4_K, LMX_ROLE_WEIGHT, {E, N, 1, 1});
    fill_random(*wo, 30, 0.1f);
    fill_random(*wq, 31, 0.1f);
    auto norm_w = make_tensor("attn_norm", DType::F32, LMX_ROLE_WEIGHT, {E, 1, 1, 1});
    auto attn = act("attn_out", A), o = act("wo_out", E), res = act("residual", E), x = act("attn_in", E);
    auto q = act("q", N);
    fill_random(*attn, 32);
    fill_random(*res, 33, 4.0f);
    fill_random(*norm_w, 34);
    const std::vector<lmx_node> nodes = {
        fusion_node(LMX_OP_MATMUL, &wo->t, &attn->t, &o->t),
        fusion_node(LMX_OP_ADD, &res->t, &o->t, &res->t),
        fusion_node(LMX_OP_RMS_NORM, &res->t, &norm_w->t, &x->t),
        fusion_node(LMX_OP_MATMUL, &wq->t, &x->t, &q->t),
    };
    expect_program_matches_reference(nodes, {{"residual", &res->t}, {"attn_norm", &x->t}, {"q", &q->t}});
}

}  // namespace
}  // namespace llamux
