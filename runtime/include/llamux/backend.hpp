// A created backend instance: the C++ face of one plugin's lmx_backend. Turns the C status
// codes into llamux::Error messages that name the plugin, its file and the failing call,
// and keeps the plugin's library loaded for as long as the instance lives.
#pragma once

#include <memory>
#include <string>

#include "llamux/plugin.hpp"

namespace llamux {

struct BackendOptions {
    int32_t n_threads = 0;        // <= 0: the plugin's choice
    int32_t n_threads_batch = 0;  // programs of more than one token; <= 0: n_threads
    int32_t device = 0;
};

class Backend;

// Memory from Backend::allocate; freed by the destructor.
class BackendBuffer {
public:
    BackendBuffer() = default;
    BackendBuffer(std::shared_ptr<Backend> owner, lmx_buffer* handle, void* base, size_t size)
        : owner_(std::move(owner)), handle_(handle), base_(base), size_(size) {}
    BackendBuffer(BackendBuffer&& other) noexcept { *this = std::move(other); }
    BackendBuffer& operator=(BackendBuffer&& other) noexcept;
    ~BackendBuffer() { reset(); }
    void reset();
    char* base() const { return static_cast<char*>(base_); }
    size_t size() const { return size_; }

private:
    std::shared_ptr<Backend> owner_;
    lmx_buffer* handle_ = nullptr;
    void* base_ = nullptr;
    size_t size_ = 0;
};

// A compiled run of nodes; freed by the destructor.
class BackendProgram {
public:
    BackendProgram() = default;
    BackendProgram(std::shared_ptr<Backend> owner, lmx_program* handle)
        : owner_(std::move(owner)), handle_(handle) {}
    BackendProgram(BackendProgram&& other) noexcept { *this = std::move(other); }
    BackendProgram& operator=(BackendProgram&& other) noexcept;
    ~BackendProgram() { reset(); }
    void reset();
    lmx_program* handle() const { return handle_; }

private:
    std::shared_ptr<Backend> owner_;
    lmx_program* handle_ = nullptr;
};

class Backend : public std::enable_shared_from_this<Backend> {
public:
    // Creates an instance of the plugin's backend. Throws Error on failure.
    static std::shared_ptr<Backend> create(std::shared_ptr<Plugin> plugin,
                                           const BackendOptions& options);
    ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    const std::string& name() const { return plugin_->name(); }
    const Plugin& plugin() const { return *plugin_; }
    bool is_host_memory() const { return host_memory_; }
    bool supports(const lmx_node& node) const;

    BackendBuffer allocate(size_t bytes);
    void write(lmx_tensor& dst, const void* src, size_t offset, size_t size);
    void read(const lmx_tensor& src, void* dst, size_t offset, size_t size);
    void prepare_weight(lmx_tensor& weight, const void* host_data);
    void release_weight(lmx_tensor& weight);
    // Nodes and their tensors must stay valid and unmoved until the program is destroyed.
    BackendProgram compile(const lmx_node* nodes, int32_t n_nodes, const std::string& what);
    void execute(const BackendProgram& program, const lmx_exec_args& args, const std::string& what);
    void synchronize();

    lmx_backend* handle() const { return handle_; }

private:
    Backend() = default;
    [[noreturn]] void fail(const std::string& call, lmx_status status, const lmx_error& err) const;
    std::shared_ptr<Plugin> plugin_;
    lmx_backend* handle_ = nullptr;
    bool host_memory_ = true;
};

}  // namespace llamux
