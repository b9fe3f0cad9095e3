// How a model file is brought into memory: llama.cpp's use_mmap / use_mlock (its --no-mmap
// and --mlock). Either way the weights are read in place through one read-only block of
// memory that lives as long as the file object (GgufFile, Model) that loaded it.
#pragma once

namespace llamux {

struct LoadOptions {
    // true: map the file (MAP_PRIVATE); pages come from the page cache on first use and may
    // be dropped again under memory pressure or by a backend that has copied a weight.
    // false: read the whole file into anonymous process memory at load time (slower to
    // start, no dependence on the file afterwards, never paged back in from it).
    bool use_mmap = true;
    // Lock the memory (mlock) so that it is never swapped or evicted. When the system
    // refuses (RLIMIT_MEMLOCK, `ulimit -l`, is small for unprivileged users), loading warns
    // once and goes on unlocked, as llama.cpp does.
    bool use_mlock = false;
};

}  // namespace llamux
