#include "llama_cpp_spellings.hpp"

#include <algorithm>
#include <cctype>

#include "llamux/error.hpp"

namespace llamux::tools {
namespace {

// llama.cpp c392e50's multi-letter short flags (common/arg.cpp, llama-bench's -mmp) that
// llamux's subcommands take under the long name.
struct Spelling {
    const char* short_name;
    const char* long_name;
};
constexpr Spelling kShortSpellings[] = {
    {"-ngl", "--n-gpu-layers"}, {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"},
    {"-fa", "--flash-attn"},    {"-ub", "--ubatch-size"},   {"-tb", "--threads-batch"},
    {"-cnv", "--conversation"}, {"-no-cnv", "--no-conversation"}, {"-co", "--color"},
    {"-sp", "--special"},       {"-mg", "--main-gpu"},      {"-sm", "--split-mode"},
    {"-if", "--interactive-first"}, {"-mli", "--multiline-input"}, {"-mmp", "--mmap"},
};

// llama.cpp features llamux does not have, and what to do instead. A subcommand that
// defines one of these flags takes it (the table only speaks for the others).
struct Refusal {
    std::vector<std::string> flags;
    const char* reason;
};
const std::vector<Refusal>& refusals() {
    static const std::vector<Refusal> table = {
        {{"-hf", "-hfr", "--hf-repo", "-hff", "--hf-file", "-hft", "--hf-token", "-hfv", "-hfrv",
          "--hf-repo-v", "-hffv", "--hf-file-v", "-hfd", "-hfrd", "--hf-repo-draft", "-mu", "--model-url"},
         "llamux does not download models: fetch the GGUF file and pass it with -m"},
        {{"-md", "--model-draft", "-ngld", "--gpu-layers-draft", "--n-gpu-layers-draft", "--draft-max", "--draft",
          "--draft-n", "--draft-min", "--draft-n-min", "--draft-p-min", "--draft-p-split", "-cd", "--ctx-size-draft",
          "-devd", "--device-draft", "-td", "--threads-draft", "-tbd", "--threads-batch-draft", "-Cd",
          "--cpu-mask-draft", "-Crd", "--cpu-range-draft", "-Cbd", "--cpu-mask-batch-draft", "-Crbd",
          "--cpu-range-batch-draft", "--cpu-strict-draft", "--cpu-strict-batch-draft", "--poll-draft",
          "--poll-batch-draft", "--prio-draft", "--prio-batch-draft", "-lcs", "--lookup-cache-static", "-lcd",
          "--lookup-cache-dynamic"},
         "speculative decoding (draft models, lookup caches) is not supported"},
        {{"--lora", "--lora-scaled", "--lora-init-without-apply", "--control-vector", "--control-vector-scaled",
          "--control-vector-layer-range"},
         "LoRA adapters and control vectors are not supported: merge an adapter into the checkpoint, then "
         "convert it (llamux convert)"},
        {{"--override-kv"}, "metadata overrides are not supported"},
        {{"-gan", "--grp-attn-n", "-gaw", "--grp-attn-w"},
         "self-extend (grouped attention) is not supported: a full context shifts (--keep, --no-context-shift), "
         "and --rope-scale stretches the positions"},
        {{"--rope-scaling", "--yarn-orig-ctx", "--yarn-ext-factor", "--yarn-attn-factor", "--yarn-beta-slow",
          "--yarn-beta-fast"},
         "only linear RoPE scaling is supported: --rope-scale N or --rope-freq-scale 1/N"},
        {{"--rpc"}, "remote (RPC) backends are not supported; backends are plugins (llamux plugins)"},
        {{"--mmproj", "--image", "-mv", "--model-vocoder", "--tts-use-guide-tokens"},
         "llamux runs Llama 2 text models only"},
        {{"-nkvo", "--no-kv-offload"},
         "not supported: an offloaded layer's KV cache lives on the GPU with its weights"},
        {{"-ts", "--tensor-split"}, "llamux offloads to one GPU; there is nothing to split"},
        {{"-dev", "--device", "--list-devices"},
         "devices are chosen by backend: --backend, -ngl and --placement (llamux plugins lists them)"},
        {{"-C", "--cpu-mask", "-Cr", "--cpu-range", "--cpu-strict", "--prio", "--poll", "-Cb", "--cpu-mask-batch",
          "-Crb", "--cpu-range-batch", "--cpu-strict-batch", "--prio-batch", "--poll-batch"},
         "thread affinity, priority and polling are not supported: run under taskset or nice"},
        {{"--numa"}, "NUMA placement is not supported: run under numactl to bind threads and memory"},
        {{"-cb", "--cont-batching", "-nocb", "--no-cont-batching", "-np", "--parallel", "-ns", "--sequences",
          "-dt", "--defrag-thold", "-dkvc", "--dump-kv-cache", "--host", "--port", "--path", "--api-key",
          "--api-key-file", "--ssl-key-file", "--ssl-cert-file", "-to", "--timeout", "--threads-http",
          "--cache-reuse", "--metrics", "--slots", "--no-slots", "--props", "--slot-save-path", "-sps",
          "--slot-prompt-similarity", "--no-webui", "--jinja", "--reasoning-format", "-a", "--alias",
          "--chat-template", "--chat-template-file"},
         "a llama.cpp server flag: llamux's OpenAI-compatible server is `python -m llamux.server` "
         "(docs/python.md); `llamux chat` picks the chat format with --chat-format"},
        {{"-lv", "--verbosity", "--log-verbosity", "--log-file", "--log-colors", "--log-prefix",
          "--log-timestamps"},
         "llamux logs to stderr: -v (info), -vv (debug), -vvv (trace), --log-disable (none)"},
        {{"--check-tensors"}, "not supported: the file's structure is always checked, the values are not"},
        {{"-ptc", "--print-token-count"}, "not supported: -v logs the token counts"},
        {{"-bf", "--binary-file"}, "not supported: -f reads a prompt file as text"},
        {{"--conversation"},
         "conversation mode is `llamux chat` (one message per line, in the model's chat format); "
         "`llamux run -i` is llama.cpp's plain interactive mode"},
        {{"-i", "--interactive", "--interactive-first", "--in-prefix", "--in-suffix", "--in-prefix-bos",
          "--multiline-input"},
         "interactive mode is `llamux run -i`"},
    };
    return table;
}

const Refusal* refusal_of(const std::string& flag) {
    for (const Refusal& r : refusals()) {
        if (std::find(r.flags.begin(), r.flags.end(), flag) != r.flags.end()) return &r;
    }
    return nullptr;
}

// "-ngl" and "-xyz", not "-n", "-1", "-vv" (root verbosity, repeated) or "--long".
bool is_multi_letter_short(const std::string& flag) {
    if (flag.size() < 3 || flag[0] != '-' || flag[1] == '-') return false;
    if (!std::isalpha(static_cast<unsigned char>(flag[1]))) return false;  // a negative number
    return flag.find_first_not_of('v', 1) != std::string::npos;
}

// The multi-letter short flags `sub` takes.
std::string known_short_spellings(const CLI::App& sub) {
    std::string list;
    for (const Spelling& s : kShortSpellings) {
        if (sub.get_option_no_throw(s.long_name) != nullptr) list += (list.empty() ? "" : ", ") + std::string(s.short_name);
    }
    return list.empty() ? "none" : list;
}

const CLI::App* chosen_subcommand(const CLI::App& app, const std::vector<std::string>& args, size_t& index) {
    for (index = 0; index < args.size(); ++index) {
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
            if (sub->get_name() == args[index]) return sub;
        }
    }
    return nullptr;
}

}  // namespace

std::vector<std::string> translate_llama_cpp_flags(const CLI::App& app, std::vector<std::string> args) {
    size_t first = 0;
    const CLI::App* sub = chosen_subcommand(app, args, first);
    if (sub == nullptr) return args;
    const std::string where = "`llamux " + sub->get_name() + "`";
    for (size_t i = first + 1; i < args.size(); ++i) {
        std::string& arg = args[i];
        if (arg == "--") break;
        if (arg.empty() || arg[0] != '-') continue;
        const size_t eq = arg.find('=');
        const std::string flag = arg.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : arg.substr(eq);
        const auto spelling = std::find_if(std::begin(kShortSpellings), std::end(kShortSpellings),
                                           [&](const Spelling& s) { return flag == s.short_name; });
        const bool defined = sub->get_option_no_throw(flag) != nullptr;
        if (spelling != std::end(kShortSpellings)) {
            const std::string long_name = spelling->long_name;
            if (sub->get_option_no_throw(long_name) == nullptr) {
                const Refusal* r = refusal_of(long_name);
                throw Error(flag + " (llama.cpp's " + long_name + "): " +
                            (r ? r->reason : where + " has no such flag"));
            }
            arg = long_name + value;
        } else if (const Refusal* r = defined ? nullptr : refusal_of(flag)) {
            throw Error(flag + ": " + r->reason);
        } else if (is_multi_letter_short(flag)) {
            throw Error(flag + ": unknown flag; " + where + "'s single-dash flags are one letter (-n 128), "
                        "and the multi-letter ones of llama.cpp it reads are " + known_short_spellings(*sub));
        }
    }
    return args;
}

}  // namespace llamux::tools
