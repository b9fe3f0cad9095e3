// Included first by every graph/src/quant_*.cpp: turns off floating-point contraction
// (a * b + c fused into one FMA with a single rounding) for the rest of the file.
//
// The reference quantizers must round every product and sum separately, in llama.cpp's
// order, to write the same bytes as its quantize tool; with FMA available (-march=native
// on x86-64, or AArch64) GCC contracts C++ by default (-ffp-contract=fast) and the K-quant
// scale searches then pick different scales in a few percent of the blocks.
// Dequantize and the dot products get the same treatment so their results do not depend
// on the build's target flags.
#pragma once

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
