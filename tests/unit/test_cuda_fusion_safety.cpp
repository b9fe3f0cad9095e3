// The rule by which the CUDA plugin runs consecutive nodes as one kernel
// (backends/cuda/cuda_fusion_safety.hpp), on the attention block's rope and KV-store nodes
// laid out in one activation arena the way the runtime's planner can lay them out. Plain C++:
// runs on every machine.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cuda_fusion_safety.hpp"

namespace llamux::cuda {
namespace {

constexpr int64_t kHeadDim = 8, kHeads = 4, kKvHeads = 2, kTokens = 3;
constexpr int64_t kEmbd = kHeadDim * kHeads, kEmbdKv = kHeadDim * kKvHeads;

// An f32 tensor [ne0, ne1, ne2] with contiguous rows at `data`.
lmx_tensor f32(void* data, int64_t ne0, int64_t ne1, int64_t ne2 = 1, int32_t dtype = LMX_TYPE_F32) {
    lmx_tensor t{};
    t.dtype = dtype;
    t.role = LMX_ROLE_ACTIVATION;
    const size_t elem = dtype == LMX_TYPE_F16 ? 2 : 4;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = 1;
    t.nb[0] = elem;
    t.nb[1] = elem * static_cast<size_t>(ne0);
    t.nb[2] = t.nb[1] * static_cast<size_t>(ne1);
    t.nb[3] = t.nb[2] * static_cast<size_t>(ne2);
    t.data = data;
    return t;
}

lmx_node node(int32_t op, std::vector<const lmx_tensor*> src, lmx_tensor* dst) {
    lmx_node n{};
    n.op = op;
    for (size_t i = 0; i < src.size(); ++i) n.src[i] = src[i];
    n.dst = dst;
    return n;
}

// rope(q), rope(k), kv_store(roped k), kv_store(v), with q, k, v, the roped q and k at the
// given float offsets of one arena; positions and the caches elsewhere.
struct AttentionBlock {
    std::vector<float> arena = std::vector<float>(1024);
    std::vector<uint16_t> k_cache_mem = std::vector<uint16_t>(kEmbdKv * 16);
    std::vector<uint16_t> v_cache_mem = std::vector<uint16_t>(kEmbdKv * 16);
    std::vector<int32_t> pos_mem = std::vector<int32_t>(kTokens);
    lmx_tensor q, k, v, qr, kr, pos, k_cache, v_cache;
    lmx_node nodes[4];

    AttentionBlock(size_t q_at, size_t k_at, size_t v_at, size_t qr_at, size_t kr_at) {
        q = f32(arena.data() + q_at, kHeadDim, kHeads, kTokens);
        k = f32(arena.data() + k_at, kHeadDim, kKvHeads, kTokens);
        v = f32(arena.data() + v_at, kEmbdKv, kTokens);
        qr = f32(arena.data() + qr_at, kHeadDim, kHeads, kTokens);
        kr = f32(arena.data() + kr_at, kHeadDim, kKvHeads, kTokens);
        pos = f32(pos_mem.data(), kTokens, 1, 1, LMX_TYPE_I32);
        pos.nb[0] = 4;
        k_cache = f32(k_cache_mem.data(), kEmbdKv, 16, 1, LMX_TYPE_F16);
        v_cache = f32(v_cache_mem.data(), kEmbdKv, 16, 1, LMX_TYPE_F16);
        nodes[0] = node(LMX_OP_ROPE, {&q, &pos}, &qr);
        nodes[1] = node(LMX_OP_ROPE, {&k, &pos}, &kr);
        nodes[2] = node(LMX_OP_KV_STORE, {&kr}, &k_cache);
        nodes[3] = node(LMX_OP_KV_STORE, {&v}, &v_cache);
    }
};

// Disjoint offsets (in floats): q 0, k 96, v 144, q roped 192, k roped 288.
constexpr size_t kQ = 0, kK = 96, kV = 144, kQr = 192, kKr = 288;

TEST(CudaFusionSafety, ByteRangeFollowsShapeAndStrides) {
    std::vector<float> mem(64);
    lmx_tensor t = f32(mem.data(), 4, 3, 2);
    const ByteRange r = byte_range(t);
    EXPECT_EQ(r.end - r.begin, 4u * 3 * 2 * sizeof(float));
    t.nb[1] = 8 * sizeof(float);  // rows 8 floats apart, 4 used: the last row ends early
    t.nb[2] = 24 * sizeof(float);
    EXPECT_EQ(byte_range(t).end - byte_range(t).begin, (24 + 2 * 8 + 4) * sizeof(float));
    EXPECT_TRUE(overlaps(ByteRange{0, 8}, ByteRange{4, 12}));
    EXPECT_FALSE(overlaps(ByteRange{0, 8}, ByteRange{8, 16}));
    EXPECT_FALSE(overlaps(ByteRange{0, 0}, ByteRange{0, 16}));  // empty
}

TEST(CudaFusionSafety, SeparateTensorsFuseWithTheRopedKHandedOff) {
    AttentionBlock b(kQ, kK, kV, kQr, kKr);
    const FusedHandoff after_q{1, 2};
    EXPECT_TRUE(fusable_in_one_kernel(b.nodes, 4, &after_q, 1));
    const FusedHandoff k_only{0, 1};
    EXPECT_TRUE(fusable_in_one_kernel(b.nodes + 1, 3, &k_only, 1));
    // Without the handoff the k store reads what the rope writes in the same kernel.
    EXPECT_FALSE(fusable_in_one_kernel(b.nodes + 1, 3, nullptr, 0));
}

// The planner frees q after its last reader, rope(q), and may give the roped k its bytes:
// rope(q) and rope(k) at once would then overwrite q while it is read. Without rope(q) the
// three remaining nodes are still safe.
TEST(CudaFusionSafety, RopedKOverQKeepsRopeQApart) {
    AttentionBlock b(kQ, kK, kV, kQr, /*kr over q*/ kQ);
    const FusedHandoff after_q{1, 2};
    EXPECT_FALSE(fusable_in_one_kernel(b.nodes, 4, &after_q, 1));
    const FusedHandoff k_only{0, 1};
    EXPECT_TRUE(fusable_in_one_kernel(b.nodes + 1, 3, &k_only, 1));
    // A partial overlap is refused the same way.
    AttentionBlock partial(kQ, kK, kV, kQr, kQ + 40);
    EXPECT_FALSE(fusable_in_one_kernel(partial.nodes, 4, &after_q, 1));
}

TEST(CudaFusionSafety, OtherOverlapsAreRefused) {
    const FusedHandoff after_q{1, 2};
    // The roped q over v, which the v store reads later in the set.
    AttentionBlock qr_over_v(kQ, kK, kV, kV, kKr);
    EXPECT_FALSE(fusable_in_one_kernel(qr_over_v.nodes, 4, &after_q, 1));
    // Both stores into one cache.
    AttentionBlock one_cache(kQ, kK, kV, kQr, kKr);
    one_cache.nodes[3].dst = &one_cache.k_cache;
    EXPECT_FALSE(fusable_in_one_kernel(one_cache.nodes, 4, &after_q, 1));
    // The k store reading a different view of the roped k's bytes: not the handoff.
    AttentionBlock other_view(kQ, kK, kV, kQr, kKr);
    lmx_tensor half = other_view.kr;
    half.ne[2] = 1;
    other_view.nodes[2].src[0] = &half;
    EXPECT_FALSE(fusable_in_one_kernel(other_view.nodes, 4, &after_q, 1));
}

TEST(CudaFusionSafety, SameViewComparesTypeMemoryShapeAndStrides) {
    std::vector<float> mem(64);
    const lmx_tensor a = f32(mem.data(), 4, 3, 2);
    lmx_tensor b = a;
    EXPECT_TRUE(same_view(a, b));
    b.nb[2] += 4;
    EXPECT_FALSE(same_view(a, b));
    b = a;
    b.data = mem.data() + 1;
    EXPECT_FALSE(same_view(a, b));
    b = a;
    b.dtype = LMX_TYPE_I32;
    EXPECT_FALSE(same_view(a, b));
}

}  // namespace
}  // namespace llamux::cuda
