// Owning host tensors for op tests: a buffer plus the lmx_tensor that describes it, with
// helpers to fill it from floats (converting or quantizing per row), read it back as
// floats, and build lmx_node values. Header-only; links against llamux_graph for the
// reference conversions.
//
//   std::mt19937 rng(1);
//   HostTensor x("x", DType::F32, {37, 5});
//   x.fill_uniform(rng, -1.0f, 1.0f);
//   HostTensor w("w", DType::Q4_K, {256, 8});
//   w.fill_uniform(rng, -1.0f, 1.0f);            // random floats, quantized
//   HostTensor y("y", DType::F32, {8, 5});
//   lmx_node n = make_node(LMX_OP_MATMUL, y.get(), {w.get(), x.get()});
//   std::string err;
//   ASSERT_EQ(run_node_ref(n, exec_args(0), &err), LMX_OK) << err;
//   std::vector<float> got = y.to_f32();         // logical order, ne[0] fastest
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "llamux/backend_abi.h"
#include "llamux/dtype.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::test {

class HostTensor {
public:
    static constexpr size_t kAlignment = 64;  // enough for any SIMD load a backend may use

    HostTensor() = default;
    // A zero-filled tensor of shape ne (unused trailing dimensions may be left out: {37, 5}
    // means 37x5x1x1). Rows are row_bytes(dtype, ne[0]) + row_pad_bytes apart, so a
    // non-zero pad gives strided rows; higher dimensions are packed on top of that.
    HostTensor(std::string name, DType dtype, std::initializer_list<int64_t> ne,
               size_t row_pad_bytes = 0, lmx_tensor_role role = LMX_ROLE_ACTIVATION)
        : s_(std::make_unique<State>()) {
        if (ne.size() == 0 || ne.size() > LMX_MAX_DIMS) {
            throw std::invalid_argument("HostTensor " + name + ": expected 1..4 dimensions");
        }
        s_->name = std::move(name);
        lmx_tensor& t = s_->t;
        t.dtype = static_cast<int32_t>(dtype);
        t.role = role;
        size_t k = 0;
        for (int64_t n : ne) t.ne[k++] = n;
        for (; k < LMX_MAX_DIMS; ++k) t.ne[k] = 1;
        const auto rb = row_bytes(dtype, t.ne[0]);
        if (!rb) {
            throw std::invalid_argument("HostTensor " + s_->name + ": row length " +
                                        std::to_string(t.ne[0]) + " is not whole " +
                                        std::string(dtype_name(dtype)) + " blocks");
        }
        t.nb[0] = info(dtype).type_size;
        t.nb[1] = *rb + row_pad_bytes;
        t.nb[2] = t.nb[1] * static_cast<size_t>(t.ne[1]);
        t.nb[3] = t.nb[2] * static_cast<size_t>(t.ne[2]);
        s_->bytes = t.nb[3] * static_cast<size_t>(t.ne[3]);
        s_->data.reset(static_cast<std::byte*>(
            ::operator new[](s_->bytes == 0 ? 1 : s_->bytes, std::align_val_t{kAlignment})));
        std::memset(s_->data.get(), 0, s_->bytes);
        t.data = s_->data.get();
        t.extra = nullptr;
        t.name = s_->name.c_str();
    }

    // The descriptor; stays at the same address when the HostTensor is moved.
    lmx_tensor* get() { return &s_->t; }
    const lmx_tensor* get() const { return &s_->t; }
    operator lmx_tensor*() { return get(); }              // NOLINT: handy in make_node
    operator const lmx_tensor*() const { return get(); }  // NOLINT

    const std::string& name() const { return s_->name; }
    DType dtype() const { return static_cast<DType>(s_->t.dtype); }
    int64_t ne(int k) const { return s_->t.ne[k]; }
    int64_t n_rows() const { return ne(1) * ne(2) * ne(3); }
    int64_t n_elements() const { return ne(0) * n_rows(); }
    size_t size_bytes() const { return s_->bytes; }
    std::byte* bytes() { return s_->data.get(); }

    // Row r in logical order (i1 fastest, then i2, i3).
    std::byte* row(int64_t r) {
        const lmx_tensor& t = s_->t;
        const auto i1 = static_cast<size_t>(r % t.ne[1]);
        const auto i2 = static_cast<size_t>((r / t.ne[1]) % t.ne[2]);
        const auto i3 = static_cast<size_t>(r / (t.ne[1] * t.ne[2]));
        return s_->data.get() + i1 * t.nb[1] + i2 * t.nb[2] + i3 * t.nb[3];
    }
    const std::byte* row(int64_t r) const { return const_cast<HostTensor*>(this)->row(r); }

    // Element access for plain types (F32, I32); the index is (i0, i1, i2, i3).
    template <class T>
    T& at(int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0) {
        const lmx_tensor& t = s_->t;
        return *reinterpret_cast<T*>(s_->data.get() + static_cast<size_t>(i0) * t.nb[0] +
                                     static_cast<size_t>(i1) * t.nb[1] +
                                     static_cast<size_t>(i2) * t.nb[2] +
                                     static_cast<size_t>(i3) * t.nb[3]);
    }
    float& f32(int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0) {
        return at<float>(i0, i1, i2, i3);
    }
    int32_t& i32(int64_t i0, int64_t i1 = 0, int64_t i2 = 0, int64_t i3 = 0) {
        return at<int32_t>(i0, i1, i2, i3);
    }

    // All elements as floats in logical order (F32/F16/BF16 converted, quants dequantized).
    std::vector<float> to_f32() const {
        std::vector<float> out(static_cast<size_t>(n_elements()));
        const int64_t n = ne(0);
        for (int64_t r = 0; r < n_rows(); ++r) {
            float* dst = out.data() + r * n;
            const std::byte* src = row(r);
            switch (dtype()) {
                case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); break;
                case DType::I32:
                    for (int64_t i = 0; i < n; ++i) {
                        dst[i] = static_cast<float>(reinterpret_cast<const int32_t*>(src)[i]);
                    }
                    break;
                default: dequantize_row_ref(dtype(), src, dst, n); break;
            }
        }
        return out;
    }

    // Sets all elements from floats in logical order, converting or quantizing each row.
    void from_f32(const std::vector<float>& values) {
        if (static_cast<int64_t>(values.size()) != n_elements()) {
            throw std::invalid_argument("HostTensor " + name() + ": expected " +
                                        std::to_string(n_elements()) + " values, got " +
                                        std::to_string(values.size()));
        }
        const int64_t n = ne(0);
        for (int64_t r = 0; r < n_rows(); ++r) {
            const float* src = values.data() + r * n;
            std::byte* dst = row(r);
            switch (dtype()) {
                case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); break;
                case DType::I32:
                    for (int64_t i = 0; i < n; ++i) {
                        reinterpret_cast<int32_t*>(dst)[i] = static_cast<int32_t>(src[i]);
                    }
                    break;
                case DType::F16:
                    for (int64_t i = 0; i < n; ++i) {
                        reinterpret_cast<f16_bits*>(dst)[i] = f32_to_f16(src[i]);
                    }
                    break;
                case DType::BF16:
                    for (int64_t i = 0; i < n; ++i) {
                        reinterpret_cast<bf16_bits*>(dst)[i] = f32_to_bf16(src[i]);
                    }
                    break;
                default: quantize_row_ref(dtype(), src, dst, n); break;
            }
        }
    }

    void from_i32(const std::vector<int32_t>& values) {
        if (dtype() != DType::I32 || static_cast<int64_t>(values.size()) != n_elements()) {
            throw std::invalid_argument("HostTensor " + name() + ": from_i32 needs an I32 tensor of " +
                                        std::to_string(n_elements()) + " values");
        }
        for (int64_t r = 0; r < n_rows(); ++r) {
            std::memcpy(row(r), values.data() + r * ne(0), static_cast<size_t>(ne(0)) * 4);
        }
    }

    // Uniform random values in [lo, hi), stored through from_f32. Returns the floats used
    // (before any rounding to the storage type).
    std::vector<float> fill_uniform(std::mt19937& rng, float lo, float hi) {
        std::uniform_real_distribution<float> dist(lo, hi);
        std::vector<float> v(static_cast<size_t>(n_elements()));
        for (float& x : v) x = dist(rng);
        from_f32(v);
        return v;
    }

    // Every byte of the buffer, padding included, set to `byte` (0xFF makes F32 NaNs):
    // shows whether an op reads or writes what it should not.
    void fill_bytes(uint8_t byte) { std::memset(s_->data.get(), byte, s_->bytes); }

private:
    struct AlignedDelete {
        void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
    };
    struct State {
        std::string name;
        lmx_tensor t{};
        std::unique_ptr<std::byte[], AlignedDelete> data;
        size_t bytes = 0;
    };
    std::unique_ptr<State> s_;  // heap state: descriptor and name stay put across moves
};

// A node over the given tensors (up to LMX_MAX_SRC sources, up to 8 iparams, 4 fparams).
inline lmx_node make_node(lmx_op op, lmx_tensor* dst, std::initializer_list<const lmx_tensor*> src,
                          std::initializer_list<int32_t> iparams = {},
                          std::initializer_list<float> fparams = {}, int32_t layer = -1) {
    if (src.size() > LMX_MAX_SRC || iparams.size() > 8 || fparams.size() > 4) {
        throw std::invalid_argument("make_node: too many sources or params");
    }
    lmx_node n{};
    n.op = op;
    n.layer = layer;
    n.dst = dst;
    size_t i = 0;
    for (const lmx_tensor* s : src) n.src[i++] = s;
    i = 0;
    for (int32_t p : iparams) n.iparams[i++] = p;
    i = 0;
    for (float p : fparams) n.fparams[i++] = p;
    return n;
}

inline lmx_exec_args exec_args(int32_t n_past) {
    lmx_exec_args a{};
    a.struct_size = sizeof(lmx_exec_args);
    a.n_past = n_past;
    return a;
}

// Random floats in [lo, hi).
inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

}  // namespace llamux::test
