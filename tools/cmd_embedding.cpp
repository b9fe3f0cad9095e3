// llamux embedding: text embeddings as llama.cpp's embedding tool computes and prints them.
// The prompt is split into texts at the separator (a newline by default); each is evaluated
// on its own from an empty cache, pooled (--pooling, default none: one embedding per token,
// as llama.cpp does for Llama models) and normalized (--embd-normalize, default 2:
// euclidean). Output: llama.cpp's text lines, or its OpenAI-style JSON (--embd-output-format).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.hpp"
#include "llamux/embedding.hpp"
#include "llamux/error.hpp"
#include "llamux/session.hpp"
#include "session_flags.hpp"
#include "text_file.hpp"

namespace llamux::tools {
namespace {

struct EmbeddingFlags {
    SessionFlags session;
    std::string prompt;
    std::string prompt_file;
    std::string pooling = "none";
    int32_t normalize = 2;
    std::string separator = "\n";
    std::string format;  // "", "json", "json+" or "array"
};

std::vector<std::string> split_texts(const std::string& text, const std::string& separator) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t at; !separator.empty() && (at = text.find(separator, start)) != std::string::npos;
         start = at + separator.size()) {
        out.push_back(text.substr(start, at - start));
    }
    out.push_back(text.substr(start));
    return out;
}

double cosine_similarity(const float* a, const float* b, int64_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        ab += double(a[i]) * b[i];
        aa += double(a[i]) * a[i];
        bb += double(b[i]) * b[i];
    }
    if (aa == 0.0 || bb == 0.0) return aa == bb ? 1.0 : 0.0;
    return ab / (std::sqrt(aa) * std::sqrt(bb));
}

// llama.cpp's text output: a few values of each token's embedding, or the pooled ones with
// a cosine similarity matrix when there are several texts.
void print_text(const std::vector<std::vector<float>>& rows, const std::vector<std::string>& texts,
                int64_t n_embd, bool pooled, int32_t normalize) {
    const char* value_format = normalize == 0 ? "%6.0f " : "%9.6f ";
    std::printf("\n");
    for (size_t j = 0; j < rows.size(); ++j) {
        std::printf("embedding %zu: ", j);
        const float* v = rows[j].data();
        if (!pooled) {
            for (int64_t i = 0; i < std::min<int64_t>(3, n_embd); ++i) std::printf(value_format, v[i]);
            std::printf(" ... ");
            for (int64_t i = std::max<int64_t>(0, n_embd - 3); i < n_embd; ++i) std::printf(value_format, v[i]);
        } else {
            const int64_t shown = texts.size() > 1 ? std::min<int64_t>(16, n_embd) : n_embd;
            for (int64_t i = 0; i < shown; ++i) std::printf(value_format, v[i]);
        }
        std::printf("\n");
    }
    if (pooled && texts.size() > 1) {
        std::printf("\ncosine similarity matrix:\n\n");
        for (const auto& t : texts) std::printf("%6.6s ", t.c_str());
        std::printf("\n");
        for (size_t i = 0; i < rows.size(); ++i) {
            for (size_t j = 0; j < rows.size(); ++j) {
                std::printf("%6.2f ", cosine_similarity(rows[i].data(), rows[j].data(), n_embd));
            }
            std::printf("%1.10s\n", texts[i].c_str());
        }
    }
    std::printf("\n");
}

// llama.cpp's --embd-output-format json / json+ / array.
void print_json(const std::vector<std::vector<float>>& rows, int64_t n_embd, int32_t normalize,
                const std::string& format) {
    const bool array = format == "array";
    const char* value_format = normalize == 0 ? "%1.0f" : "%1.7f";
    std::printf(array ? "[" : "{\n  \"object\": \"list\",\n  \"data\": [\n");
    for (size_t j = 0; j < rows.size(); ++j) {
        if (!array) {
            std::printf("    {\n      \"object\": \"embedding\",\n      \"index\": %zu,\n      \"embedding\": ", j);
        }
        std::printf("[");
        for (int64_t i = 0; i < n_embd; ++i) {
            std::printf(value_format, rows[j][static_cast<size_t>(i)]);
            if (i + 1 < n_embd) std::printf(",");
        }
        std::printf(array ? "]" : "]\n    }");
        if (j + 1 < rows.size()) std::printf(array ? "," : ",\n");
    }
    std::printf(array ? "]\n" : "\n  ]");
    if (format == "json+" && rows.size() > 1) {
        std::printf(",\n  \"cosineSimilarity\": [\n");
        for (size_t i = 0; i < rows.size(); ++i) {
            std::printf("    [");
            for (size_t j = 0; j < rows.size(); ++j) {
                std::printf("%6.2f", cosine_similarity(rows[i].data(), rows[j].data(), n_embd));
                if (j + 1 < rows.size()) std::printf(", ");
            }
            std::printf(" ]");
            if (i + 1 < rows.size()) std::printf(",\n");
        }
        std::printf("\n  ]");
    }
    if (!array) std::printf("\n}\n");
    std::printf("\n");  // as llama.cpp, which ends every output with an empty line
}

int run_embedding(const EmbeddingFlags& f) {
    if (!f.prompt.empty() && !f.prompt_file.empty()) throw Error("-p and -f: give only one");
    if (f.format != "" && f.format != "json" && f.format != "json+" && f.format != "array") {
        throw Error("--embd-output-format: expected json, json+ or array (or nothing for text), got '" +
                    f.format + "'");
    }
    const Pooling pooling = parse_pooling(f.pooling, "--pooling");
    if (f.normalize < -1) {
        throw Error("--embd-normalize: expected -1 (none), 0 (int16 range), 1 (taxicab), 2 "
                    "(euclidean) or a p-norm > 2, got " + std::to_string(f.normalize));
    }
    const std::string text = f.prompt_file.empty() ? f.prompt : read_text_file(f.prompt_file);
    const std::vector<std::string> texts = split_texts(text, f.separator);

    auto model = f.session.load_model();
    Session session(model, f.session.session_options());
    const Tokenizer& tok = model->tokenizer();
    const int64_t n_embd = model->hparams().n_embd;
    std::vector<std::vector<float>> rows;
    for (size_t i = 0; i < texts.size(); ++i) {
        const std::vector<int32_t> tokens = tok.encode(texts[i], tok.add_bos());
        if (tokens.empty()) throw Error("text " + std::to_string(i) + ": no tokens (empty and no BOS)");
        if (static_cast<int64_t>(tokens.size()) > session.n_ctx()) {
            throw Error("text " + std::to_string(i) + ": " + std::to_string(tokens.size()) +
                        " tokens do not fit the context of " + std::to_string(session.n_ctx()) +
                        " (raise -c)");
        }
        const std::vector<float> values = embed_sequence(session, tokens, pooling, f.normalize);
        for (size_t r = 0; r < values.size(); r += static_cast<size_t>(n_embd)) {
            rows.emplace_back(values.begin() + static_cast<std::ptrdiff_t>(r),
                              values.begin() + static_cast<std::ptrdiff_t>(r + static_cast<size_t>(n_embd)));
        }
    }
    if (f.format.empty()) {
        print_text(rows, texts, n_embd, pooling != Pooling::None, f.normalize);
    } else {
        print_json(rows, n_embd, f.normalize, f.format);
    }
    return 0;
}

}  // namespace

void add_embedding_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<EmbeddingFlags>();
    auto* cmd = root.add_subcommand(
        "embedding", "Text embeddings, as llama.cpp's embedding tool (one text per line of the prompt)");
    flags->session.add_to(*cmd);
    cmd->add_option("-p,--prompt", flags->prompt, "Texts, separated by --embd-separator");
    cmd->add_option("-f,--file", flags->prompt_file, "Read the texts from a file");
    cmd->add_option("--pooling", flags->pooling,
                    "none (one embedding per token, the default for Llama models), mean, cls or last");
    cmd->add_option("--embd-normalize", flags->normalize,
                    "-1 none, 0 max absolute to the int16 range, 1 taxicab, 2 euclidean (default), > 2 p-norm");
    cmd->add_option("--embd-separator", flags->separator, "Separator of the texts (default: a newline)");
    cmd->add_option("--embd-output-format", flags->format,
                    "Nothing for text lines, or json, json+ (with cosine similarities) or array");
    cmd->callback([flags, &run] { run = [flags] { return run_embedding(*flags); }; });
}

}  // namespace llamux::tools
