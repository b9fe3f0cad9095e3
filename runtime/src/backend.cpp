#include "llamux/backend.hpp"

#include <cstring>
#include <utility>

#include "llamux/error.hpp"
#include "llamux/log.hpp"

namespace llamux {
namespace {

const char* status_name(lmx_status s) {
    switch (s) {
        case LMX_OK: return "ok";
        case LMX_ERR_UNSUPPORTED: return "unsupported";
        case LMX_ERR_OUT_OF_MEMORY: return "out of memory";
        case LMX_ERR_INVALID: return "invalid argument";
        case LMX_ERR_DEVICE: return "device error";
        case LMX_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

// Routes a plugin's log lines to the "plugin.<name>" logger. `user` is the logger.
void plugin_log(void* user, int32_t level, const char* message) {
    auto* log = static_cast<spdlog::logger*>(user);
    const int clamped = level < 0 ? 0 : (level > 4 ? 4 : level);
    log->log(static_cast<spdlog::level::level_enum>(clamped), "{}", message ? message : "");
}

}  // namespace

BackendBuffer& BackendBuffer::operator=(BackendBuffer&& other) noexcept {
    if (this != &other) {
        reset();
        owner_ = std::move(other.owner_);
        handle_ = std::exchange(other.handle_, nullptr);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void BackendBuffer::reset() {
    if (owner_ && handle_) owner_->plugin().api().buffer_free(owner_->handle(), handle_);
    handle_ = nullptr;
    base_ = nullptr;
    owner_.reset();
}

BackendProgram& BackendProgram::operator=(BackendProgram&& other) noexcept {
    if (this != &other) {
        reset();
        owner_ = std::move(other.owner_);
        handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
}

void BackendProgram::reset() {
    if (owner_ && handle_) owner_->plugin().api().program_free(owner_->handle(), handle_);
    handle_ = nullptr;
    owner_.reset();
}

std::shared_ptr<Backend> Backend::create(std::shared_ptr<Plugin> plugin,
                                         const BackendOptions& options) {
    std::shared_ptr<Backend> b(new Backend());
    b->plugin_ = std::move(plugin);
    lmx_backend_config config{};
    config.struct_size = sizeof(config);
    config.n_threads = options.n_threads;
    config.n_threads_batch = options.n_threads_batch;
    config.device = options.device;
    config.log = &plugin_log;
    config.log_user = logger("plugin." + b->name()).get();  // registry keeps it alive
    lmx_error err{};
    const lmx_status s = b->plugin_->api().create(&config, &b->handle_, &err);
    if (s != LMX_OK || !b->handle_) {
        b->handle_ = nullptr;
        b->fail("create", s == LMX_OK ? LMX_ERR_INTERNAL : s, err);
    }
    b->host_memory_ = b->plugin_->api().is_host_memory(b->handle_) != 0;
    return b;
}

Backend::~Backend() {
    if (handle_) plugin_->api().destroy(handle_);
}

void Backend::fail(const std::string& call, lmx_status status, const lmx_error& err) const {
    std::string message(err.message, strnlen(err.message, sizeof(err.message)));
    throw Error("backend " + name() + " (" + plugin_->file().string() + "): " + call + " failed: " +
                status_name(status) + (message.empty() ? "" : ": " + message));
}

bool Backend::supports(const lmx_node& node) const {
    return plugin_->api().supports_node(handle_, &node) != 0;
}

BackendBuffer Backend::allocate(size_t bytes) {
    lmx_buffer* buffer = nullptr;
    void* base = nullptr;
    lmx_error err{};
    const lmx_status s = plugin_->api().buffer_alloc(handle_, bytes, &buffer, &base, &err);
    if (s != LMX_OK || !buffer) {
        fail("allocating " + std::to_string(bytes) + " bytes", s == LMX_OK ? LMX_ERR_INTERNAL : s,
             err);
    }
    return BackendBuffer(shared_from_this(), buffer, base, bytes);
}

void Backend::write(lmx_tensor& dst, const void* src, size_t offset, size_t size) {
    lmx_error err{};
    const lmx_status s = plugin_->api().tensor_write(handle_, &dst, src, offset, size, &err);
    if (s != LMX_OK) fail(std::string("writing tensor ") + dst.name, s, err);
}

void Backend::read(const lmx_tensor& src, void* dst, size_t offset, size_t size) {
    lmx_error err{};
    const lmx_status s = plugin_->api().tensor_read(handle_, &src, dst, offset, size, &err);
    if (s != LMX_OK) fail(std::string("reading tensor ") + src.name, s, err);
}

void Backend::prepare_weight(lmx_tensor& weight, const void* host_data) {
    lmx_error err{};
    const lmx_status s = plugin_->api().prepare_weight(handle_, &weight, host_data, &err);
    if (s != LMX_OK) fail(std::string("preparing weight ") + weight.name, s, err);
}

void Backend::release_weight(lmx_tensor& weight) { plugin_->api().release_weight(handle_, &weight); }

BackendProgram Backend::compile(const lmx_node* nodes, int32_t n_nodes, const std::string& what) {
    lmx_program* program = nullptr;
    lmx_error err{};
    const lmx_status s = plugin_->api().compile(handle_, nodes, n_nodes, &program, &err);
    if (s != LMX_OK || !program) {
        fail("compiling " + what, s == LMX_OK ? LMX_ERR_INTERNAL : s, err);
    }
    return BackendProgram(shared_from_this(), program);
}

void Backend::execute(const BackendProgram& program, const lmx_exec_args& args,
                      const std::string& what) {
    lmx_error err{};
    const lmx_status s = plugin_->api().execute(handle_, program.handle(), &args, &err);
    if (s != LMX_OK) fail("executing " + what, s, err);
}

void Backend::synchronize() {
    lmx_error err{};
    const lmx_status s = plugin_->api().synchronize(handle_, &err);
    if (s != LMX_OK) fail("synchronize", s, err);
}

}  // namespace llamux
