// llamux tokenize: text to token ids with the model's own vocabulary.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/tokenizer.hpp"
#include "text_file.hpp"

namespace llamux::tools {

namespace {

struct TokenizeOptions {
    std::string model;
    std::string prompt;
    std::string prompt_file;
    bool no_bos = false;
    bool ids_only = false;
};

int run_tokenize(const TokenizeOptions& opt, bool have_prompt, bool have_file) {
    if (have_prompt == have_file) {
        throw Error(std::string("tokenize: expected exactly one of -p TEXT and -f FILE, got ") +
                    (have_prompt ? "both" : "neither"));
    }
    if (!std::filesystem::is_regular_file(opt.model)) {
        throw Error("-m: model file not found: " + opt.model);
    }
    const std::string text = have_file ? read_text_file(opt.prompt_file) : opt.prompt;

    const GgufFile file = GgufFile::open(opt.model);
    const Tokenizer tok = Tokenizer::from_gguf(file);
    const std::vector<int32_t> ids = tok.encode(text, !opt.no_bos && tok.add_bos());

    std::ostringstream out;
    if (opt.ids_only) {
        for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
        out << '\n';
    } else {
        for (const int32_t id : ids) out << id << '\t' << tok.piece(id) << '\n';
    }
    const std::string s = out.str();
    std::fwrite(s.data(), 1, s.size(), stdout);
    return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& root, CommandFn& run) {
    auto opt = std::make_shared<TokenizeOptions>();
    auto* cmd = root.add_subcommand("tokenize", "Print the token ids of a text");
    cmd->add_option("-m,--model", opt->model, "GGUF model (or vocabulary) file")->required();
    auto* prompt = cmd->add_option("-p,--prompt", opt->prompt, "Text to tokenize");
    auto* file = cmd->add_option("-f,--file", opt->prompt_file, "File whose text to tokenize");
    cmd->add_flag("--no-bos", opt->no_bos, "Do not add the BOS token");
    cmd->add_flag("--ids", opt->ids_only, "Print only the ids, space-separated, on one line");
    cmd->callback([&run, opt, prompt, file] {
        const bool have_prompt = prompt->count() > 0, have_file = file->count() > 0;
        run = [opt, have_prompt, have_file] { return run_tokenize(*opt, have_prompt, have_file); };
    });
}

}  // namespace llamux::tools
