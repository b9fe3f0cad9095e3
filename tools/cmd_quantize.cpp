// llamux quantize IN OUT TYPE [THREADS]: a GGUF file rewritten in another file type with
// llama.cpp's per-tensor choices (see quantizer.hpp). One progress line per tensor on
// stderr.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/quantizer.hpp"

namespace llamux::tools {
namespace {

struct QuantizeArgs {
    std::string input;
    std::string output;
    std::string type;
    int threads = 0;
};

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return buf;
}

std::string shape_text(const std::vector<int64_t>& ne) {
    std::string s;
    for (size_t d = 0; d < ne.size(); ++d) s += (d ? " x " : "") + std::to_string(ne[d]);
    return s;
}

std::string type_list() {
    std::string s;
    for (FileType t : all_file_types()) s += (s.empty() ? "" : ", ") + std::string(file_type_name(t));
    return s;
}

int run_quantize(const QuantizeArgs& a) {
    const auto type = file_type_from_name(a.type);
    if (!type) {
        throw Error("TYPE: unknown file type '" + a.type + "'; expected one of " + type_list());
    }
    if (a.threads < 0) throw Error("THREADS: expected a count >= 0, got " + std::to_string(a.threads));
    if (!std::filesystem::is_regular_file(a.input)) {
        throw Error("IN: " + a.input + ": no such file");
    }

    QuantizeOptions options;
    options.type = *type;
    options.n_threads = a.threads;
    options.on_tensor = [](const QuantizeTensorEvent& e) {
        std::fprintf(stderr, "[%4zu/%4zu] %-32s %-14s %6s -> %-6s %12s -> %s%s\n", e.index + 1,
                     e.count, e.name.c_str(), shape_text(e.ne).c_str(),
                     std::string(dtype_name(e.from)).c_str(), std::string(dtype_name(e.to)).c_str(),
                     mib(e.bytes_in).c_str(), mib(e.bytes_out).c_str(),
                     e.fallback ? (" (fallback from " + std::string(dtype_name(e.wanted)) + ")").c_str()
                                : "");
    };
    const auto start = std::chrono::steady_clock::now();
    const QuantizeSummary s = quantize_file(a.input, a.output, options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s: %zu tensors (%zu converted, %zu fallbacks), %s -> %s, %s, %.1f s\n",
                 a.output.c_str(), s.n_tensors, s.n_converted, s.n_fallback,
                 mib(s.bytes_in).c_str(), mib(s.bytes_out).c_str(),
                 std::string(file_type_name(*type)).c_str(), seconds);
    return 0;
}

}  // namespace

void add_quantize_command(CLI::App& root, CommandFn& run) {
    auto args = std::make_shared<QuantizeArgs>();
    auto* cmd = root.add_subcommand(
        "quantize", "Rewrite a GGUF model in another type with llama.cpp's per-tensor choices");
    cmd->add_option("IN", args->input, "Input GGUF file")->required();
    cmd->add_option("OUT", args->output, "Output GGUF file")->required();
    cmd->add_option("TYPE", args->type, "File type: " + type_list())->required();
    cmd->add_option("THREADS", args->threads, "Threads (default: hardware threads)");
    cmd->callback([args, &run] { run = [args] { return run_quantize(*args); }; });
}

}  // namespace llamux::tools
