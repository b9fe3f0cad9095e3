#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "llamux/error.hpp"
#include "llamux/log.hpp"

namespace llamux {
namespace {

// An open file descriptor, closed when it goes out of scope (every error path throws).
struct FileDescriptor {
    explicit FileDescriptor(int opened) : fd(opened) {}
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    int fd;
};

std::string reason(int err) { return std::strerror(err); }

int open_for_reading(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (regular_file_size refuses it).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(path + ": cannot open: " + reason(errno));
    return fd;
}

// Error unless the open file is a regular one.
uint64_t regular_file_size(const std::string& path, int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + reason(errno));
    if (!S_ISREG(st.st_mode)) throw Error(path + ": expected a regular file, found another kind of file");
    return static_cast<uint64_t>(st.st_size);
}

void* map_file(const std::string& path, int fd, size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        throw Error(path + ": cannot map " + std::to_string(size) + " bytes: " + reason(err));
    }
    return p;
}

// Reads the whole file into fresh anonymous memory, made read-only once filled. Anonymous,
// so that a backend that copies a weight knows not to drop the original's pages (it would
// zero them; see release_pages in backends/cpu/cpu_weights.cpp).
void* read_into_anonymous_memory(const std::string& path, int fd, size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        const int err = errno;
        throw Error(path + ": cannot allocate " + std::to_string(size) +
                    " bytes to read the file into: " + reason(err));
    }
    auto* bytes = static_cast<char*>(p);
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, bytes + done, size - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // n == 0: the file shrank since it was measured.
            const std::string why =
                n < 0 ? reason(errno) : "the file ends there, expected " + std::to_string(size) + " bytes";
            ::munmap(p, size);
            throw Error(path + ": cannot read at offset " + std::to_string(done) + ": " + why);
        }
        done += static_cast<size_t>(n);
    }
    if (::mprotect(p, size, PROT_READ) != 0) {
        const int err = errno;
        ::munmap(p, size);
        throw Error(path + ": cannot make the copy of the file read-only: " + reason(err));
    }
    return p;
}

// Locking is a wish, not a need: without it the model still runs, it may only be paged out.
void lock_in_memory(const std::string& path, void* p, size_t size) {
    if (::mlock(p, size) == 0) return;
    const int err = errno;  // before logger(), which may create the logger
    logger("load")->warn("{}: cannot lock {} bytes in memory: {}; raise RLIMIT_MEMLOCK (ulimit -l) "
                         "to keep the model resident. Going on without the lock.",
                         path, size, reason(err));
}

}  // namespace

MappedFile MappedFile::open(const std::string& path, const LoadOptions& options) {
    const FileDescriptor fd(open_for_reading(path));
    MappedFile file;
    file.size_ = regular_file_size(path, fd.fd);
    if (file.size_ == 0) return file;
    const auto size = static_cast<size_t>(file.size_);
    file.map_ = options.use_mmap ? map_file(path, fd.fd, size)
                                 : read_into_anonymous_memory(path, fd.fd, size);
    if (options.use_mlock) lock_in_memory(path, file.map_, size);
    return file;
}

// munmap also ends the lock, and frees the anonymous copy.
MappedFile::~MappedFile() {
    if (map_) ::munmap(map_, static_cast<size_t>(size_));
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        if (map_) ::munmap(map_, static_cast<size_t>(size_));
        map_ = std::exchange(other.map_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

}  // namespace llamux
