// A file mapped read-only into memory, unmapped when destroyed: what GGUF and safetensors
// files are read through (their tensor data is used in place from it). With
// LoadOptions::use_mmap off the mapping is anonymous memory holding a copy of the file;
// either way it is read-only. Internal to the runtime.
#pragma once

#include <cstdint>
#include <string>

#include "llamux/load_options.hpp"

namespace llamux {

class MappedFile {
public:
    MappedFile() = default;
    // Maps the whole file, or with options.use_mmap off reads it into anonymous memory;
    // options.use_mlock then locks that memory, or logs one warning when the system refuses
    // and goes on. Throws Error naming the path when the file cannot be opened, is not a
    // regular file (a directory, a FIFO...), cannot be mapped or read (with the offset). An
    // empty file gives data() == nullptr, size() == 0.
    static MappedFile open(const std::string& path, const LoadOptions& options = {});

    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    // Valid for the object's lifetime.
    const uint8_t* data() const { return static_cast<const uint8_t*>(map_); }
    uint64_t size() const { return size_; }

private:
    void* map_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace llamux
