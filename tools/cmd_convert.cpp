// llamux convert DIR -o OUT.gguf [--outtype f32|f16|bf16] [--name NAME]: a Hugging Face Llama
// checkpoint directory written as GGUF, as llama.cpp's convert_hf_to_gguf.py does (see
// hf_convert.hpp). Quiet by default; --progress prints one line per tensor on stderr. A summary
// line on stderr at the end.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/hf_convert.hpp"

namespace llamux::tools {
namespace {

struct ConvertArgs {
    std::string input;
    std::string output;
    std::string outtype = "f16";
    std::string name;
    bool verbose = false;
};

std::string shape_text(const std::vector<int64_t>& ne) {
    std::string s;
    for (size_t d = 0; d < ne.size(); ++d) s += (d ? " x " : "") + std::to_string(ne[d]);
    return s;
}

int run_convert(const ConvertArgs& a) {
    ConvertOptions options;
    options.input_dir = a.input;
    options.output_path = a.output;
    options.name = a.name;
    if (a.outtype == "f32") {
        options.type = FileType::F32;
    } else if (a.outtype == "f16") {
        options.type = FileType::F16;
    } else if (a.outtype == "bf16") {
        options.type = FileType::BF16;
    } else {
        throw Error("--outtype: expected f32, f16 or bf16, got '" + a.outtype + "'");
    }
    std::function<void(const ConvertTensorEvent&)> progress;
    if (a.verbose) {
        progress = [](const ConvertTensorEvent& e) {
            std::fprintf(stderr, "[%4zu/%4zu] %-28s %-14s %4s -> %-4s %s\n", e.index + 1, e.count,
                         e.name.c_str(), shape_text(e.ne).c_str(),
                         std::string(dtype_name(e.from)).c_str(),
                         std::string(dtype_name(e.to)).c_str(), e.source.c_str());
        };
    }
    const auto start = std::chrono::steady_clock::now();
    const ConvertSummary s = convert_hf_llama(options, progress);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s: %zu tensors, %llu parameters, vocab %lld, %s, %.2f MiB read, "
                 "%.2f MiB written, %.1f s\n",
                 a.output.c_str(), s.n_tensors, static_cast<unsigned long long>(s.n_params),
                 static_cast<long long>(s.n_vocab), a.outtype.c_str(),
                 static_cast<double>(s.bytes_in) / (1024.0 * 1024.0),
                 static_cast<double>(s.bytes_out) / (1024.0 * 1024.0), seconds);
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& root, CommandFn& run) {
    auto args = std::make_shared<ConvertArgs>();
    auto* cmd = root.add_subcommand(
        "convert", "Convert a Hugging Face Llama checkpoint directory to GGUF (as convert_hf_to_gguf.py)");
    cmd->add_option("DIR", args->input, "Checkpoint directory: config.json, *.safetensors, tokenizer.model")
        ->required();
    cmd->add_option("-o,--outfile", args->output, "Output GGUF file")->required();
    cmd->add_option("--outtype", args->outtype, "Tensor type: f32, f16 (default) or bf16");
    cmd->add_option("--name", args->name, "general.name (default: the directory's name)");
    cmd->add_flag("--progress", args->verbose, "One line per tensor on stderr");
    cmd->callback([args, &run] { run = [args] { return run_convert(*args); }; });
}

}  // namespace llamux::tools
