// Small pieces of backend state shared by every file of the plugin: logging, the OpenMP
// thread scope and the backend's scratch buffers.
#include "onednn_backend.hpp"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace llamux::onednn {

void log(const OnednnBackend& b, int32_t level, const std::string& message) {
    if (b.config.log) b.config.log(b.config.log_user, level, message.c_str());
}

ThreadScope::ThreadScope(int32_t n_threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(n_threads);
}

ThreadScope::~ThreadScope() { omp_set_num_threads(saved_); }

void HostBuffer::Free::operator()(std::byte* p) const { std::free(p); }

void HostBuffer::reserve(size_t bytes) {
    if (bytes <= size_) return;
    constexpr size_t kAlignment = 64;
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_.reset();
    size_ = 0;
    auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, rounded);
    data_.reset(p);
    size_ = rounded;
}

}  // namespace llamux::onednn
