#include "quant_rows.hpp"

#include <cmath>
#include <cstdint>

#include "llamux/quant_ref.hpp"

namespace llamux::test {
namespace {

bool has_min(DType t) {
    return t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q2_K || t == DType::Q4_K ||
           t == DType::Q5_K;
}

}  // namespace

std::vector<float> random_row(std::mt19937& rng, int64_t n) {
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    std::uniform_real_distribution<float> exponent(-3.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(n));
    float scale = 1.0f;
    for (int64_t i = 0; i < n; ++i) {
        if (i % 32 == 0) scale = std::exp2(exponent(rng));
        x[static_cast<size_t>(i)] = scale * unit(rng);
    }
    return x;
}

Row make_row(DType t, const std::vector<float>& x, size_t misalign, bool act) {
    Row r;
    const size_t unit = (t == DType::F32 || t == DType::Q8_K) ? 4 : 2;
    const size_t bytes = row_bytes(t, static_cast<int64_t>(x.size())).value();
    r.storage.assign(bytes + misalign * unit + 32, 0);
    // From the first 16-byte boundary of the storage (new[] guarantees only its own alignment).
    const auto base = reinterpret_cast<uintptr_t>(r.storage.data());
    r.offset = static_cast<size_t>((16 - base % 16) % 16) + misalign * unit;
    uint8_t* dst = r.storage.data() + r.offset;
    if (act) {
        quantize_activation_row_ref(t, x.data(), dst, static_cast<int64_t>(x.size()));
    } else {
        quantize_row_ref(t, x.data(), dst, static_cast<int64_t>(x.size()));
    }
    return r;
}

// Types with a min form the scaled part and the min part of each weight separately; each is
// at most about 2 max|w| in magnitude, so those terms add 3 max|w| sum |a_i|.
double magnitude(DType t, const void* w, DType at, const void* a, int64_t n) {
    std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
    dequantize_row_ref(t, w, wf.data(), n);
    dequantize_row_ref(at, a, af.data(), n);
    double s = 0.0, amax_w = 0.0;
    for (size_t i = 0; i < wf.size(); ++i) {
        s += std::fabs(static_cast<double>(wf[i])) * std::fabs(static_cast<double>(af[i]));
        amax_w = std::fmax(amax_w, std::fabs(static_cast<double>(wf[i])));
    }
    if (has_min(t)) {
        for (float v : af) s += 3.0 * amax_w * std::fabs(static_cast<double>(v));
    }
    return s;
}

}  // namespace llamux::test
