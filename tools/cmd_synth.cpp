// llamux synth --shape tiny|1b|7b|13b --type TYPE -o FILE: a random-weight Llama 2 GGUF
// of a real shape, for benchmarks that need no download (see synth_model.hpp).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/synth_model.hpp"

namespace llamux::tools {
namespace {

namespace fs = std::filesystem;

struct SynthArgs {
    std::string shape;
    std::string type = "F32";
    std::string output;
    std::string vocab_from;
    uint64_t seed = 1234;
    int threads = 0;
};

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

// The default vocabulary: stories260K's 512 tokens for the tiny shape, the Llama SPM
// vocabulary (32000) for the others. Looked for under $LLAMUX_TEST_DATA, then in a
// "shared" folder beside any folder above the llamux binary (the checkout's layout).
std::string default_vocab(const SynthShape& shape) {
    const std::string rel = shape.n_vocab == 512 ? "models/stories260K.gguf"
                                                 : "testdata/tokenizer/ggml-vocab-llama-spm.gguf";
    std::vector<fs::path> roots;
    if (const char* env = std::getenv("LLAMUX_TEST_DATA"); env && *env) roots.emplace_back(env);
    std::error_code ec;
    fs::path dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    for (int up = 0; up < 5 && !ec && !dir.empty(); ++up) {
        roots.push_back(dir / "shared");
        if (dir == dir.parent_path()) break;
        dir = dir.parent_path();
    }
    for (const auto& root : roots) {
        if (fs::is_regular_file(root / rel)) return (root / rel).string();
    }
    throw Error("--vocab-from: no default vocabulary found (" + rel +
                " under $LLAMUX_TEST_DATA or a shared/ folder above the llamux binary); "
                "pass --vocab-from FILE.gguf");
}

int run_synth(const SynthArgs& a) {
    const auto shape = synth_shape(a.shape);
    if (!shape) {
        throw Error("--shape: unknown shape '" + a.shape + "'; expected one of " +
                    join(synth_shape_names()));
    }
    const auto type = file_type_from_name(a.type);
    if (!type) {
        std::vector<std::string> names;
        for (FileType t : all_file_types()) names.emplace_back(file_type_name(t));
        throw Error("--type: unknown file type '" + a.type + "'; expected one of " + join(names));
    }
    if (a.threads < 0) throw Error("-t: expected a count >= 0, got " + std::to_string(a.threads));
    if (!a.vocab_from.empty() && !fs::is_regular_file(a.vocab_from)) {
        throw Error("--vocab-from: " + a.vocab_from + ": no such file");
    }

    SynthOptions options;
    options.shape = *shape;
    options.type = *type;
    options.seed = a.seed;
    options.n_threads = a.threads;
    options.vocab_from = a.vocab_from.empty() ? default_vocab(*shape) : a.vocab_from;
    options.on_tensor = [](const SynthTensorEvent& e) {
        std::string shape_text;
        for (size_t d = 0; d < e.ne.size(); ++d) shape_text += (d ? " x " : "") + std::to_string(e.ne[d]);
        std::fprintf(stderr, "[%4zu/%4zu] %-32s %-14s %-6s %10.2f MiB\n", e.index + 1, e.count,
                     e.name.c_str(), shape_text.c_str(), std::string(dtype_name(e.type)).c_str(),
                     static_cast<double>(e.bytes) / (1024.0 * 1024.0));
    };
    const auto start = std::chrono::steady_clock::now();
    const SynthSummary s = write_synth_model(a.output, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr,
                 "%s: %s shape, %s, %zu tensors, %.2f M params, %.2f MiB of tensors, vocab %d "
                 "(%s), seed %llu, %.1f s\n",
                 a.output.c_str(), shape->name.c_str(), std::string(file_type_name(*type)).c_str(),
                 s.n_tensors, static_cast<double>(s.n_params) / 1e6,
                 static_cast<double>(s.tensor_bytes) / (1024.0 * 1024.0), s.n_vocab,
                 options.vocab_from.c_str(), static_cast<unsigned long long>(a.seed), seconds);
    return 0;
}

}  // namespace

void add_synth_command(CLI::App& root, CommandFn& run) {
    auto args = std::make_shared<SynthArgs>();
    auto* cmd = root.add_subcommand(
        "synth", "Write a random-weight Llama 2 GGUF of a real shape (for benchmarks)");
    cmd->add_option("--shape", args->shape, "tiny, 1b (TinyLlama-1.1B), 7b or 13b")->required();
    cmd->add_option("--type", args->type, "File type as for quantize (default F32)");
    cmd->add_option("-o,--output", args->output, "Output GGUF file")->required();
    cmd->add_option("--vocab-from", args->vocab_from,
                    "GGUF whose tokenizer keys are copied (default: stories260K for tiny, "
                    "the Llama SPM vocabulary otherwise)");
    cmd->add_option("--seed", args->seed, "Random seed (default 1234)");
    cmd->add_option("-t,--threads", args->threads, "Threads (default: hardware threads)");
    cmd->callback([args, &run] { run = [args] { return run_synth(*args); }; });
}

}  // namespace llamux::tools
