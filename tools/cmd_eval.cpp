// llamux eval: the logits of every prompt position from one batched evaluation (or batches
// of -b / -ub tokens where given; with --one-by-one, the same as -b 1, a token at a time as
// generation does: a GPU backend's matrix-vector kernels instead of its batched products),
// and the greedy continuation, in the JSON format of the reference outputs. How any backend
// is compared with the reference.
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "llamux/error.hpp"
#include "llamux/sampler.hpp"
#include "session_flags.hpp"

namespace llamux::tools {
namespace {

struct EvalFlags {
    SessionFlags session;
    std::string prompt;
    int32_t n_greedy = 64;
    std::string output;
    bool one_by_one = false;
    bool batch_given = false;  // -b or -ub on the command line: otherwise the prompt is one batch
};

int run_eval(const EvalFlags& f) {
    if (f.n_greedy < 0) throw Error("-n: expected a count >= 0, got " + std::to_string(f.n_greedy));
    const std::string path = f.session.model_path();
    auto model = f.session.load_model();
    const Tokenizer& tok = model->tokenizer();
    const std::vector<int32_t> tokens = tok.encode(f.prompt, tok.add_bos());
    if (tokens.empty()) throw Error("-p: the prompt gives no tokens");

    SessionOptions options = f.session.session_options();
    if (!f.batch_given) options.n_batch = std::max<int32_t>(options.n_batch, static_cast<int32_t>(tokens.size()));
    Session session(model, options);
    const int32_t n_vocab = model->hparams().n_vocab;
    std::vector<float> all;
    if (f.one_by_one) {
        for (const int32_t t : tokens) {
            const std::vector<float> row = session.decode({t});
            all.insert(all.end(), row.begin(), row.end());
        }
    } else {
        all = session.decode(tokens, true);
    }

    nlohmann::json logits = nlohmann::json::array();
    for (size_t row = 0; row < tokens.size(); ++row) {
        const auto begin = all.begin() + static_cast<std::ptrdiff_t>(row * size_t(n_vocab));
        logits.push_back(std::vector<float>(begin, begin + n_vocab));
    }

    std::vector<int32_t> greedy;
    std::vector<float> last(all.end() - n_vocab, all.end());
    StreamDecoder decoder(tok);
    std::string text;
    for (int32_t step = 0; step < f.n_greedy; ++step) {
        const int32_t token = argmax(last.data(), last.size());
        if (token == tok.eos()) break;
        greedy.push_back(token);
        text += decoder.push(token);
        if (step + 1 == f.n_greedy || session.n_past() >= session.n_ctx()) break;
        last = session.decode({token}, false);
    }
    text += decoder.flush();

    nlohmann::json out;
    out["model"] = path.substr(path.find_last_of('/') + 1);
    out["prompt"] = f.prompt;
    out["add_bos"] = tok.add_bos();
    out["n_vocab"] = n_vocab;
    out["prompt_tokens"] = tokens;
    out["logits_positions"] = "all";
    out["logits"] = std::move(logits);
    out["greedy_n"] = f.n_greedy;
    out["greedy_tokens"] = greedy;
    out["greedy_text"] = text;
    out["backend"] = f.session.backend;
    out["placement"] = session.placement().describe();

    const std::string dumped = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (f.output.empty() || f.output == "-") {
        std::fwrite(dumped.data(), 1, dumped.size(), stdout);
        std::fputc('\n', stdout);
    } else {
        std::ofstream file(f.output, std::ios::binary);
        if (!file) throw Error("-o " + f.output + ": cannot write the file");
        file << dumped << '\n';
        if (!file) throw Error("-o " + f.output + ": write failed");
    }
    return 0;
}

}  // namespace

void add_eval_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<EvalFlags>();
    auto* cmd = root.add_subcommand(
        "eval", "Logits of every prompt position and the greedy continuation, as JSON");
    flags->session.add_to(*cmd);
    cmd->add_option("-p,--prompt", flags->prompt, "Prompt text")->required();
    cmd->add_option("-n,--n-predict", flags->n_greedy, "Greedy steps after the prompt (default 64)");
    cmd->add_option("-o,--output", flags->output, "Output JSON file (default: stdout)");
    cmd->add_flag("--one-by-one", flags->one_by_one,
                  "Evaluate the prompt one token at a time, as generation does (-b 1; default: one batch)");
    cmd->callback([flags, cmd, &run] {
        flags->batch_given = cmd->count("--batch-size") > 0 || cmd->count("--ubatch-size") > 0;
        run = [flags] { return run_eval(*flags); };
    });
}

}  // namespace llamux::tools
