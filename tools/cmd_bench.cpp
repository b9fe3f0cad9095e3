// llamux bench -m FILE [-p 512] [-n 128] [-t 4,8] [-ngl 0,99] [-mmp 0,1] [-b 256,512] [-ub ...]
// [-ctk f16,q8_0] [-ctv ...] [-fa 0,1] [-r 5] [-o md|json|jsonl|csv]: prompt-processing and
// generation speed measured as llama-bench measures it (see bench.hpp), for every
// combination of the listed values (a session each, in llama-bench's order), printed as its
// markdown table or with its field names as JSON, JSON lines or CSV.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "llamux/bench.hpp"
#include "llamux/error.hpp"
#include "llamux/host_threads.hpp"
#include "session_flags.hpp"

namespace llamux::tools {
namespace {

using Json = nlohmann::ordered_json;

struct BenchFlags {
    SessionFlags session;
    std::vector<int32_t> n_prompt{512};
    std::vector<int32_t> n_gen{128};
    std::vector<int32_t> n_depth{0};
    int32_t reps = 5;
    std::string output = "md";
    bool no_warmup = false;
    // Lists, as llama-bench's: a session per combination of their values.
    std::vector<int32_t> mmap{1};          // -mmp 0|1 (the model is loaded again when it changes)
    std::vector<int32_t> batch{512};       // -b
    std::vector<int32_t> ubatch;           // -ub (none: as -b)
    std::vector<std::string> flash_attn;   // -fa: accepted, reported; no effect (see run --help)
    std::vector<int32_t> threads{0};       // -t (0: one per physical core)
    std::vector<int32_t> n_gpu_layers{0};  // -ngl
    std::vector<std::string> cache_type_k{"f16"};  // -ctk
    std::vector<std::string> cache_type_v{"f16"};  // -ctv
};

// One session's settings, in llama-bench's order of its loops: -ngl, -mmp, -b, -ub, -ctk,
// -ctv, -fa, -t.
struct Combination {
    int32_t ngl;
    int32_t mmap;
    int32_t batch, ubatch;
    std::string type_k, type_v;
    std::string flash_attn;
    int32_t threads;

    int32_t physical_batch() const { return ubatch > 0 ? std::min(batch, ubatch) : batch; }
    bool flash_attn_on() const { return flash_attn == "on" || flash_attn == "1"; }
};

std::vector<Combination> combinations(const BenchFlags& f) {
    const std::vector<int32_t> ubatch = f.ubatch.empty() ? std::vector<int32_t>{0} : f.ubatch;
    const std::vector<std::string> flash_attn = f.flash_attn.empty() ? std::vector<std::string>{""} : f.flash_attn;
    std::vector<Combination> out;
    for (const int32_t ngl : f.n_gpu_layers) {
        for (const int32_t mmap : f.mmap) {
            for (const int32_t b : f.batch) {
                for (const int32_t ub : ubatch) {
                    for (const std::string& tk : f.cache_type_k) {
                        for (const std::string& tv : f.cache_type_v) {
                            for (const std::string& fa : flash_attn) {
                                for (const int32_t t : f.threads) out.push_back({ngl, mmap, b, ub, tk, tv, fa, t});
                            }
                        }
                    }
                }
            }
        }
    }
    return out;
}

std::string cpu_info() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                auto begin = line.find_first_not_of(' ', colon + 1);
                return begin == std::string::npos ? "" : line.substr(begin);
            }
        }
    }
    return "";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
    return s;
}

struct Row {
    BenchModelInfo model;
    std::string backends;
    int32_t threads = 0;
    const SessionOptions& options;
    const Combination& settings;
    BenchResult result;
};

Json to_json(const BenchFlags& f, const Row& row) {
    const SessionOptions& o = row.options;
    Json j;
    j["build_commit"] = "llamux";
    j["build_number"] = 0;
    j["cpu_info"] = cpu_info();
    j["gpu_info"] = "";
    j["backends"] = row.backends;
    j["model_filename"] = row.model.filename;
    j["model_type"] = row.model.type;
    j["model_size"] = row.model.size;
    j["model_n_params"] = row.model.n_params;
    j["n_batch"] = row.settings.batch;
    j["n_ubatch"] = o.n_batch;
    j["n_threads"] = row.threads;
    j["cpu_mask"] = "0x0";
    j["cpu_strict"] = false;
    j["poll"] = 50;
    j["type_k"] = std::string(info(o.kv_type_k).name);
    j["type_v"] = std::string(info(o.kv_type_v).name);
    j["n_gpu_layers"] = o.placement.n_gpu_layers;
    j["split_mode"] = "layer";
    j["main_gpu"] = 0;
    j["no_kv_offload"] = false;
    j["flash_attn"] = row.settings.flash_attn_on();
    j["tensor_split"] = "0.00";
    j["use_mmap"] = row.settings.mmap != 0;
    j["embeddings"] = false;
    j["n_prompt"] = row.result.n_prompt;
    j["n_gen"] = row.result.n_gen;
    j["n_depth"] = row.result.n_depth;
    j["test_time"] = row.result.test_time;
    j["avg_ns"] = row.result.avg_ns();
    j["stddev_ns"] = row.result.stddev_ns();
    j["avg_ts"] = row.result.avg_ts();
    j["stddev_ts"] = row.result.stddev_ts();
    j["samples_ns"] = row.result.samples_ns;
    j["samples_ts"] = row.result.samples_ts();
    if (!f.session.placement.empty()) j["placement"] = f.session.placement;  // llamux's own
    return j;
}

// llama-bench's markdown table: negative widths are left-aligned columns.
struct MarkdownTable {
    std::vector<std::pair<std::string, int>> columns;

    void header() const {
        std::string line = "|", rule = "|";
        for (const auto& [name, width] : columns) {
            line += cell(name, width);
            rule += " " + std::string(static_cast<size_t>(std::abs(width) - 1), '-') +
                    (width > 0 ? ":" : "-") + " |";
        }
        std::printf("%s\n%s\n", line.c_str(), rule.c_str());
    }
    void row(const std::vector<std::string>& values) const {
        std::string line = "|";
        for (size_t i = 0; i < columns.size(); ++i) {
            int width = columns[i].second;
            if (columns[i].first == "t/s") width += 1;  // "±" is two bytes
            line += cell(values[i], width);
        }
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
    }
    static std::string cell(const std::string& v, int width) {
        char buf[256];
        std::snprintf(buf, sizeof(buf), " %*s |", width, v.c_str());
        return buf;
    }
};

std::string size_text(uint64_t bytes) {
    char buf[32];
    const double b = static_cast<double>(bytes);
    if (bytes < 1024ull * 1024 * 1024) {
        std::snprintf(buf, sizeof(buf), "%.2f MiB", b / 1024.0 / 1024.0);
    } else {
        std::snprintf(buf, sizeof(buf), "%.2f GiB", b / 1024.0 / 1024.0 / 1024.0);
    }
    return buf;
}

std::string params_text(uint64_t n) {
    char buf[32];
    if (n < 1000ull * 1000 * 1000) {
        std::snprintf(buf, sizeof(buf), "%.2f M", static_cast<double>(n) / 1e6);
    } else {
        std::snprintf(buf, sizeof(buf), "%.2f B", static_cast<double>(n) / 1e9);
    }
    return buf;
}

// llama-bench's CSV: a header of the scalar fields, then each row's values quoted.
void print_csv(const Json& row, bool header) {
    std::string names, values;
    for (const auto& [name, value] : row.items()) {
        if (value.is_array()) continue;
        std::string text = value.is_string() ? value.get<std::string>()
                           : value.is_boolean() ? std::string(value.get<bool>() ? "1" : "0")
                                                : value.dump();
        std::string quoted = "\"";
        for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        names += (names.empty() ? "" : ",") + name;
        values += (values.empty() ? "" : ",") + quoted + "\"";
    }
    if (header) std::printf("%s\n", names.c_str());
    std::printf("%s\n", values.c_str());
    std::fflush(stdout);
}

std::vector<BenchTest> bench_tests(const BenchFlags& f) {
    if (f.reps < 1) throw Error("-r: expected repetitions >= 1, got " + std::to_string(f.reps));
    struct Counts {
        const char* flag;
        const char* what;
        const std::vector<int32_t>& values;
    };
    for (const Counts& c : {Counts{"-p", "token count", f.n_prompt}, Counts{"-n", "token count", f.n_gen},
                            Counts{"-d", "token count", f.n_depth}, Counts{"-t", "thread count", f.threads},
                            Counts{"-ngl", "layer count", f.n_gpu_layers}}) {
        for (const int32_t v : c.values) {
            if (v < 0) throw Error(std::string(c.flag) + ": expected a " + c.what + " >= 0, got " + std::to_string(v));
        }
    }
    for (const Counts& c : {Counts{"-b", "batch size", f.batch}, Counts{"-ub", "batch size", f.ubatch}}) {
        for (const int32_t v : c.values) {
            if (v < 1) throw Error(std::string(c.flag) + ": expected a " + c.what + " >= 1, got " + std::to_string(v));
        }
    }
    for (const std::string& fa : f.flash_attn) SessionFlags::check_flash_attn(fa);
    std::vector<BenchTest> tests;
    for (const int32_t d : f.n_depth) {  // llama-bench's order: depth outermost
        for (const int32_t p : f.n_prompt) {
            if (p > 0) tests.push_back({p, 0, f.reps, !f.no_warmup, 1, d});
        }
        for (const int32_t n : f.n_gen) {
            if (n > 0) tests.push_back({0, n, f.reps, !f.no_warmup, 1, d});
        }
    }
    if (tests.empty()) throw Error("-p/-n: nothing to measure (both are 0)");
    return tests;
}

int run_bench_command(const BenchFlags& f) {
    std::string format = f.output;
    std::transform(format.begin(), format.end(), format.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (format == "markdown") format = "md";
    if (format != "md" && format != "json" && format != "jsonl" && format != "csv") {
        throw Error("-o: expected md, json, jsonl or csv, got '" + f.output + "'");
    }
    const std::vector<BenchTest> tests = bench_tests(f);
    for (const auto& [flag, types] : {std::pair{"-ctk", &f.cache_type_k}, std::pair{"-ctv", &f.cache_type_v}}) {
        for (const std::string& t : *types) SessionFlags::kv_cache_type(flag, t);  // before the model loads
    }
    SessionOptions base = f.session.session_options();
    if (base.n_ctx == 0) {
        int32_t need = 1;
        for (const auto& t : tests) need = std::max(need, t.n_depth + t.n_prompt + t.n_gen);
        base.n_ctx = need;
    }
    const bool show_ngl = std::any_of(f.n_gpu_layers.begin(), f.n_gpu_layers.end(), [](int32_t n) { return n > 0; });
    auto not_f16 = [](const std::vector<std::string>& types) {
        return std::any_of(types.begin(), types.end(), [](const std::string& t) { return t != "f16"; });
    };
    const bool show_type_k = not_f16(f.cache_type_k), show_type_v = not_f16(f.cache_type_v);
    // As llama-bench: a column for a setting given several values or one other than the default.
    const bool show_batch = f.batch != std::vector<int32_t>{512};
    const bool show_ubatch = !f.ubatch.empty();
    const bool show_fa = !f.flash_attn.empty();
    const bool show_mmap = f.mmap != std::vector<int32_t>{1};

    MarkdownTable table;
    table.columns = {{"model", -30}, {"size", 10}, {"params", 10}, {"backend", -10}};
    if (show_ngl) table.columns.emplace_back("ngl", 3);
    table.columns.emplace_back("threads", 7);
    if (show_batch) table.columns.emplace_back("n_batch", 7);
    if (show_ubatch) table.columns.emplace_back("n_ubatch", 8);
    if (show_type_k) table.columns.emplace_back("type_k", 6);
    if (show_type_v) table.columns.emplace_back("type_v", 6);
    if (show_fa) table.columns.emplace_back("fa", 2);
    if (show_mmap) table.columns.emplace_back("mmap", 4);
    table.columns.emplace_back("test", 13);
    table.columns.emplace_back("t/s", 20);

    Json all = Json::array();
    bool first_row = true;
    std::shared_ptr<const Model> model;
    int32_t model_mmap = -1;
    BenchModelInfo info;
    for (const Combination& c : combinations(f)) {
        if (!model || c.mmap != model_mmap) {
            model.reset();  // the previous copy goes first: never two in memory
            SessionFlags load = f.session;
            load.no_mmap = c.mmap == 0;
            model = load.load_model();
            model_mmap = c.mmap;
            info = bench_model_info(*model);
            if (format == "md" && first_row) table.header();
        }
        SessionOptions options = base;
        options.placement.n_gpu_layers = c.ngl;
        options.n_threads = c.threads;
        options.n_batch = c.physical_batch();
        options.kv_type_k = SessionFlags::kv_cache_type("-ctk", c.type_k);
        options.kv_type_v = SessionFlags::kv_cache_type("-ctv", c.type_v);
        Session session(model, options);
        const std::string backends = join(session.placement().backend_names(), ",");
        const int32_t threads = c.threads > 0 ? c.threads : default_thread_count();
        for (const BenchTest& test : tests) {
            const Row row{info, backends, threads, options, c, run_bench(session, test)};
            if (format == "md") {
                char ts[64];
                std::snprintf(ts, sizeof(ts), "%.2f ± %.2f", row.result.avg_ts(), row.result.stddev_ts());
                std::vector<std::string> values = {info.type, size_text(info.size), params_text(info.n_params),
                                                   backends};
                if (show_ngl) values.push_back(std::to_string(c.ngl));
                values.push_back(std::to_string(threads));
                if (show_batch) values.push_back(std::to_string(c.batch));
                if (show_ubatch) values.push_back(std::to_string(options.n_batch));
                if (show_type_k) values.push_back(c.type_k);
                if (show_type_v) values.push_back(c.type_v);
                if (show_fa) values.emplace_back(c.flash_attn_on() ? "1" : "0");
                if (show_mmap) values.push_back(std::to_string(c.mmap));
                values.push_back(row.result.name());
                values.emplace_back(ts);
                table.row(values);
            } else if (format == "jsonl") {
                std::printf("%s\n", to_json(f, row).dump().c_str());
                std::fflush(stdout);
            } else if (format == "csv") {
                print_csv(to_json(f, row), first_row);
            } else {
                all.push_back(to_json(f, row));
            }
            first_row = false;
        }
    }
    if (format == "json") {
        const std::string s = all.dump(2);
        std::printf("%s\n", s.c_str());
    }
    return 0;
}

}  // namespace

void add_bench_command(CLI::App& root, CommandFn& run) {
    auto flags = std::make_shared<BenchFlags>();
    auto* cmd = root.add_subcommand(
        "bench", "Prompt and generation speed, measured as llama-bench measures it");
    flags->session.add_to(*cmd, false);
    cmd->add_option("-t,--threads", flags->threads, "CPU threads, comma-separated for several (default: one per physical core)")
        ->delimiter(',');
    cmd->add_option("--cache-type-k", flags->cache_type_k,
                    "-ctk: KV cache type of keys, comma-separated for several (default f16; see run --help)")
        ->delimiter(',');
    cmd->add_option("--cache-type-v", flags->cache_type_v,
                    "-ctv: KV cache type of values, comma-separated for several (default f16)")
        ->delimiter(',');
    cmd->add_option("--n-gpu-layers,--gpu-layers", flags->n_gpu_layers,
                    "-ngl N: the last N blocks on the GPU backend, comma-separated for several (default 0)")
        ->delimiter(',');
    cmd->add_option("-p,--n-prompt", flags->n_prompt,
                    "Prompt tokens of the pp test, comma-separated for several (default 512; 0: none)")
        ->delimiter(',');
    cmd->add_option("-n,--n-gen", flags->n_gen,
                    "Generated tokens of the tg test, comma-separated for several (default 128; 0: none)")
        ->delimiter(',');
    cmd->add_option("-d,--n-depth", flags->n_depth,
                    "Tokens already in the cache when each test starts, comma-separated for several (default 0)")
        ->delimiter(',');
    cmd->add_option("-r,--repetitions", flags->reps, "Timed repetitions of each test (default 5)");
    cmd->add_option("-o,--output", flags->output, "Output format: md (default), json, jsonl or csv");
    cmd->add_flag("--no-warmup", flags->no_warmup, "Skip the untimed warm-up run");
    cmd->add_option("--mmap", flags->mmap,
                    "-mmp 0|1: 0 reads the model into memory (--no-mmap), comma-separated for several (default 1)")
        ->delimiter(',')
        ->check(CLI::IsMember({0, 1}));
    cmd->add_option("-b,--batch-size", flags->batch,
                    "Prompt tokens evaluated at once, comma-separated for several (default 512)")
        ->delimiter(',');
    cmd->add_option("--ubatch-size", flags->ubatch,
                    "-ub N: evaluate prompts at most N tokens at a time, comma-separated for several (default: as -b)")
        ->delimiter(',');
    cmd->add_option("--flash-attn", flags->flash_attn,
                    "-fa 0|1|on|off|auto, comma-separated for several: accepted for llama.cpp's sake and shown; "
                    "attention is always one fused kernel")
        ->delimiter(',');
    cmd->callback([flags, &run] {
        if (flags->session.no_mmap) flags->mmap = {0};
        run = [flags] { return run_bench_command(*flags); };
    });
}

}  // namespace llamux::tools
