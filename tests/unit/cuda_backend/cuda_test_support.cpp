#include "cuda_test_support.hpp"

#include <random>

#include "llamux/quant_ref.hpp"
#include "test_data.hpp"

namespace llamux::cuda_test {

namespace fs = std::filesystem;

fs::path cuda_plugin_file() {
    const auto dirs = PluginRegistry::default_dirs();
    for (auto dir = dirs.rbegin(); dir != dirs.rend(); ++dir) {
        if (fs::exists(*dir / "libllamux_backend_cuda.so")) return *dir / "libllamux_backend_cuda.so";
    }
    return test::plugin_dir() / "libllamux_backend_cuda.so";
}

std::shared_ptr<Plugin> cuda_plugin() {
    static auto* plugin = new std::shared_ptr<Plugin>(Plugin::load(cuda_plugin_file()));
    return *plugin;
}

std::unique_ptr<HostTensor> make_tensor(const std::string& name, DType dtype, lmx_tensor_role role,
                                        std::array<int64_t, 4> ne) {
    auto h = std::make_unique<HostTensor>();
    h->name = name;
    const DTypeInfo& ti = info(dtype);
    h->t.dtype = static_cast<int32_t>(dtype);
    h->t.role = role;
    h->t.name = h->name.c_str();
    for (int k = 0; k < 4; ++k) h->t.ne[k] = ne[static_cast<size_t>(k)];
    h->t.nb[0] = ti.type_size;
    h->t.nb[1] = *row_bytes(dtype, ne[0]);
    h->t.nb[2] = h->t.nb[1] * static_cast<size_t>(ne[1]);
    h->t.nb[3] = h->t.nb[2] * static_cast<size_t>(ne[2]);
    h->bytes.resize(h->t.nb[3] * static_cast<size_t>(ne[3]));
    h->t.data = h->bytes.data();
    return h;
}

void fill_random(HostTensor& h, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    const int64_t n = h.t.ne[0];
    const int64_t rows = h.t.ne[1] * h.t.ne[2] * h.t.ne[3];
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = dist(rng);
        quantize_row_ref(static_cast<DType>(h.t.dtype), row.data(), h.bytes.data() + r * h.t.nb[1], n);
    }
}

std::vector<float> as_floats(const lmx_tensor& t, const void* data) {
    const int64_t n = t.ne[0], rows = t.ne[1] * t.ne[2] * t.ne[3];
    std::vector<float> out(static_cast<size_t>(n * rows));
    for (int64_t r = 0; r < rows; ++r) {
        dequantize_row_ref(static_cast<DType>(t.dtype), static_cast<const char*>(data) + r * t.nb[1],
                           out.data() + r * n, n);
    }
    return out;
}

}  // namespace llamux::cuda_test
