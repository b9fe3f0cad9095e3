// The quantized types weights are kept as on the GPU (DeviceWeight::stored_dtype): the
// file's blocks of Q4_0, Q8_0, Q4_K, Q5_K and Q6_K, and the split layout of each
// (LLAMUX_CUDA_SPLIT_BLOCKS=1, opt-in until measured), with the one switch over them that
// picks a kernel instantiation.
//
// The split layout. Each of the file's blocks carries its scales inline: a 2-byte f16 d
// (first in Q4_0 / Q8_0, last in Q6_K) that leaves the block 18, 34 or 210 bytes long, so
// blocks straddle 4-byte words: the int8 kernels read a Q4_0 block as five aligned words
// shifted into place (Q8_0 nine, a Q6_K unit about twenty), and one warp's load instruction
// touches several 128-byte lines at that stride, so the kernels spend more of L1's
// bandwidth than of memory's. A split row keeps the same bytes in another order: first
// every block without its scales (its body: 16, 32, 128, 160 or 208 bytes, so each starts
// 16-byte aligned and loads in 16-byte pieces), then the blocks' scales (contiguous), then
// zeros up to a multiple of 16 bytes:
//
//   row of n blocks:  body[0] ... body[n-1] | scales[0] ... scales[n-1] | 0 ... (to 16n')
//
// Within a body nothing moves (Q4_0: byte j holds elements j and j + 16; Q6_K: ql, qh, its
// int8 sub-block scales as in the file), except in Q4_K and Q5_K: their 16-byte head (d,
// dmin, the packed 6-bit scales and mins) is the part moved, and each 32-element sub-block's
// low four bits become 16 contiguous bytes in Q4_0's order, so that a lane reads one
// sub-block in one 16-byte load and its activations as a Q4_0 lane does (the file pairs two
// sub-blocks in the nibbles of 32 bytes, and a lane of the file layout takes both: 64
// activations, four 16-byte loads at a 64-byte stride). Q5_K's 32 bytes of fifth bits
// (the file's bit s of byte l: element l of sub-block s) follow its 128 bytes of regrouped
// quants as one 4-byte word per sub-block (bit l of word s), so a body is 160 bytes and a
// lane reads its sub-block's fifth bits in one 4-byte load. The split types never appear in
// a file or cross the plugin ABI. The upload's repacking is here (host code); the kernels'
// loads are in cuda_int8_dot.cuh and cuda_quant.cuh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "llamux/backend_abi.h"

// The constexpr helpers serve device code too (template arguments of the kernels).
#if defined(__CUDACC__)
#define LMX_SPLIT_HD __host__ __device__
#else
#define LMX_SPLIT_HD
#endif

namespace llamux::cuda {

constexpr int32_t kStoredSplitFlag = 0x100;
constexpr int32_t kStoredQ4_0Split = kStoredSplitFlag | LMX_TYPE_Q4_0;
constexpr int32_t kStoredQ8_0Split = kStoredSplitFlag | LMX_TYPE_Q8_0;
constexpr int32_t kStoredQ4_KSplit = kStoredSplitFlag | LMX_TYPE_Q4_K;
constexpr int32_t kStoredQ5_KSplit = kStoredSplitFlag | LMX_TYPE_Q5_K;
constexpr int32_t kStoredQ6_KSplit = kStoredSplitFlag | LMX_TYPE_Q6_K;

LMX_SPLIT_HD constexpr bool is_split_type(int32_t stored) {
    return stored == kStoredQ4_0Split || stored == kStoredQ8_0Split || stored == kStoredQ4_KSplit ||
           stored == kStoredQ5_KSplit || stored == kStoredQ6_KSplit;
}
// The file type whose blocks a stored type holds (itself for every other stored type).
LMX_SPLIT_HD constexpr int32_t blocks_type(int32_t stored) {
    return is_split_type(stored) ? stored & ~kStoredSplitFlag : stored;
}
// Whether a weight of file type `dtype` stored as `stored` still holds its quantized blocks
// (the file's layout or split), as the int8 kernels read them; false when expanded to F16.
LMX_SPLIT_HD constexpr bool keeps_blocks(int32_t stored, int32_t dtype) {
    return blocks_type(stored) == dtype;
}
// Elements per block of a split type: 32, or 256 for the K-quants.
LMX_SPLIT_HD constexpr int split_block_elems(int32_t split) {
    return split == kStoredQ4_0Split || split == kStoredQ8_0Split ? 32 : 256;
}
// Bytes of a block's body (the block without its scales): 16 (Q4_0), 32 (Q8_0), 128 (Q4_K),
// 160 (Q5_K), 208 (Q6_K).
LMX_SPLIT_HD constexpr int split_body_bytes(int32_t split) {
    return split == kStoredQ4_0Split   ? 16
           : split == kStoredQ8_0Split ? 32
           : split == kStoredQ4_KSplit ? 128
           : split == kStoredQ5_KSplit ? 160
                                       : 208;
}
// Bytes of a block's scales, kept after all the bodies: d (2), or Q4_K's / Q5_K's d, dmin
// and packed 6-bit scales and mins (their first 16 bytes).
LMX_SPLIT_HD constexpr int split_scale_bytes(int32_t split) {
    return split == kStoredQ4_KSplit || split == kStoredQ5_KSplit ? 16 : 2;
}
// Where the scales lie in the file's block: first in Q4_0 / Q8_0 / Q4_K / Q5_K, last in Q6_K.
LMX_SPLIT_HD constexpr int split_scale_offset(int32_t split) { return split == kStoredQ6_KSplit ? 208 : 0; }

// The stored types that hold quantized blocks (the kernels' instantiations): the file's
// five and the split five.
LMX_SPLIT_HD constexpr bool holds_blocks(int32_t stored) {
    switch (blocks_type(stored)) {
        case LMX_TYPE_Q4_0:
        case LMX_TYPE_Q8_0:
        case LMX_TYPE_Q4_K:
        case LMX_TYPE_Q5_K:
        case LMX_TYPE_Q6_K:
            return true;
        default:
            return false;
    }
}

// Calls launch(std::integral_constant<int, T>{}) with T = stored when holds_blocks(stored),
// so that a kernel template is instantiated for each; false (nothing called) otherwise.
template <class Launch>
bool dispatch_block_type(int32_t stored, Launch&& launch) {
    switch (stored) {
        case LMX_TYPE_Q4_0: launch(std::integral_constant<int, LMX_TYPE_Q4_0>{}); return true;
        case LMX_TYPE_Q8_0: launch(std::integral_constant<int, LMX_TYPE_Q8_0>{}); return true;
        case LMX_TYPE_Q4_K: launch(std::integral_constant<int, LMX_TYPE_Q4_K>{}); return true;
        case LMX_TYPE_Q5_K: launch(std::integral_constant<int, LMX_TYPE_Q5_K>{}); return true;
        case LMX_TYPE_Q6_K: launch(std::integral_constant<int, LMX_TYPE_Q6_K>{}); return true;
        case kStoredQ4_0Split: launch(std::integral_constant<int, kStoredQ4_0Split>{}); return true;
        case kStoredQ8_0Split: launch(std::integral_constant<int, kStoredQ8_0Split>{}); return true;
        case kStoredQ4_KSplit: launch(std::integral_constant<int, kStoredQ4_KSplit>{}); return true;
        case kStoredQ5_KSplit: launch(std::integral_constant<int, kStoredQ5_KSplit>{}); return true;
        case kStoredQ6_KSplit: launch(std::integral_constant<int, kStoredQ6_KSplit>{}); return true;
        default: return false;
    }
}

// Bytes of one split row of n_blocks blocks (a multiple of 16, so every row starts aligned).
LMX_SPLIT_HD constexpr size_t split_row_bytes(int32_t split, int64_t n_blocks) {
    const auto per_block = static_cast<size_t>(split_body_bytes(split) + split_scale_bytes(split));
    return (static_cast<size_t>(n_blocks) * per_block + 15) / 16 * 16;
}

// A Q4_K (or Q5_K) block's 128 bytes of quants (Q5_K: their low four bits) with each
// 32-element sub-block's made 16 contiguous bytes, Q4_0's order (byte j of sub-block s: its
// element j in the low nibble, j + 16 in the high one). The file holds sub-blocks 2i and
// 2i + 1 in the low and high nibbles of the same 32 bytes.
inline void regroup_q4_k_quants(const uint8_t* qs, uint8_t* out) {
    constexpr uint64_t kLow = 0x0F0F0F0F0F0F0F0Full;
    for (int pair = 0; pair < 4; ++pair) {
        for (int j = 0; j < 16; j += 8) {  // eight bytes at a time, bytewise operations
            uint64_t a, b;
            std::memcpy(&a, qs + 32 * pair + j, 8);       // elements j.. of both sub-blocks
            std::memcpy(&b, qs + 32 * pair + 16 + j, 8);  // elements j + 16..
            const uint64_t even = (a & kLow) | ((b & kLow) << 4);
            const uint64_t odd = ((a >> 4) & kLow) | (b & ~kLow);
            std::memcpy(out + 16 * (2 * pair) + j, &even, 8);
            std::memcpy(out + 16 * (2 * pair + 1) + j, &odd, 8);
        }
    }
}

// A Q5_K block's 32 bytes of fifth bits (bit s of byte l: element l of sub-block s) as eight
// little-endian words, word s holding sub-block s's (bit l: element l). Eight bytes at a
// time: bit s of each byte masked to its bit 0, then one multiply gathers the eight into the
// top byte (byte i's bit lands on bit 56 + i; no two partial products share a bit, so
// nothing carries).
inline void regroup_q5_k_high_bits(const uint8_t* qh, uint8_t* out) {
    constexpr uint64_t kBit0 = 0x0101010101010101ull, kGather = 0x0102040810204080ull;
    uint64_t bytes[4];
    std::memcpy(bytes, qh, sizeof bytes);
    for (int s = 0; s < 8; ++s) {
        uint32_t word = 0;
        for (int k = 0; k < 4; ++k) {
            word |= static_cast<uint32_t>((((bytes[k] >> s) & kBit0) * kGather) >> 56) << (8 * k);
        }
        std::memcpy(out + 4 * s, &word, sizeof word);
    }
}

// split_row for one split type S: the sizes are constants, so the copies compile to a few
// moves (a 7B file has some 200 million blocks to move at load).
template <int32_t S>
void split_row_of(const uint8_t* in, int64_t n_blocks, uint8_t* out) {
    constexpr size_t kBody = split_body_bytes(S), kScale = split_scale_bytes(S), kAt = split_scale_offset(S);
    constexpr size_t kBlock = kBody + kScale;
    const auto n = static_cast<size_t>(n_blocks);
    uint8_t* scales = out + kBody * n;
    for (size_t b = 0; b < n; ++b) {
        const uint8_t* src = in + kBlock * b;
        std::memcpy(scales + kScale * b, src + kAt, kScale);
        if constexpr (S == kStoredQ4_KSplit) {
            regroup_q4_k_quants(src + kScale, out + kBody * b);
        } else if constexpr (S == kStoredQ5_KSplit) {
            // The file's block: head (16), qh (32), qs (128); the body: qs regrouped, then the
            // fifth bits regrouped.
            regroup_q4_k_quants(src + kScale + 32, out + kBody * b);
            regroup_q5_k_high_bits(src + kScale, out + kBody * b + 128);
        } else {
            // The body: the bytes before the scale, then those after it (one part is empty).
            std::memcpy(out + kBody * b, src, kAt);
            std::memcpy(out + kBody * b + kAt, src + kAt + kScale, kBody - kAt);
        }
    }
    const size_t used = kBlock * n;
    std::memset(out + used, 0, split_row_bytes(S, n_blocks) - used);
}

// out (split_row_bytes(split, n_blocks) bytes) = the file row `in` of n_blocks blocks of
// blocks_type(split), split. in and out must not overlap; split must be a split type.
inline void split_row(int32_t split, const uint8_t* in, int64_t n_blocks, uint8_t* out) {
    switch (split) {
        case kStoredQ4_0Split: return split_row_of<kStoredQ4_0Split>(in, n_blocks, out);
        case kStoredQ8_0Split: return split_row_of<kStoredQ8_0Split>(in, n_blocks, out);
        case kStoredQ4_KSplit: return split_row_of<kStoredQ4_KSplit>(in, n_blocks, out);
        case kStoredQ5_KSplit: return split_row_of<kStoredQ5_KSplit>(in, n_blocks, out);
        case kStoredQ6_KSplit: return split_row_of<kStoredQ6_KSplit>(in, n_blocks, out);
        default: return;
    }
}

}  // namespace llamux::cuda

#undef LMX_SPLIT_HD
