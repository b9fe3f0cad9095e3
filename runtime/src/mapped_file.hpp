// A file mapped read-only into memory, unmapped when destroyed: what GGUF and safetensors
// files are read through (their tensor data is used in place, never copied). Internal to
// the runtime.
#pragma once

#include <cstdint>
#include <string>

namespace llamux {

class MappedFile {
public:
    MappedFile() = default;
    // Maps the whole file. Throws Error naming the path when it cannot be opened, is not a
    // regular file (a directory, a FIFO...) or cannot be mapped. An empty file maps to
    // data() == nullptr, size() == 0.
    static MappedFile open(const std::string& path);

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
