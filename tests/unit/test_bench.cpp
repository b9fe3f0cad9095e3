// llamux bench: the output formats carry llama-bench's fields. Not a timing test: one
// repetition of tiny tests on the smallest fixture.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "llamux/bench.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

TEST(Bench, JsonHasLlamaBenchFields) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(),
                                      "-p", "8", "-n", "4", "-r", "2", "-t", "2", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u);
    for (const char* field :
         {"build_commit", "cpu_info", "backends", "model_filename", "model_type", "model_size",
          "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v",
          "n_gpu_layers", "n_prompt", "n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts",
          "stddev_ts", "samples_ns", "samples_ts"}) {
        EXPECT_TRUE(j[0].contains(field)) << field;
        EXPECT_TRUE(j[1].contains(field)) << field;
    }
    EXPECT_EQ(j[0]["n_prompt"], 8);
    EXPECT_EQ(j[0]["n_gen"], 0);
    EXPECT_EQ(j[1]["n_prompt"], 0);
    EXPECT_EQ(j[1]["n_gen"], 4);
    EXPECT_EQ(j[0]["n_threads"], 2);
    EXPECT_EQ(j[0]["model_type"], "llama ?B all F32");
    EXPECT_EQ(j[0]["model_n_params"], 3410176);
    EXPECT_EQ(j[0]["model_size"], 13640704);
    EXPECT_EQ(j[0]["model_filename"], model.string());
    EXPECT_EQ(j[1]["samples_ns"].size(), 2u);
    EXPECT_EQ(j[1]["samples_ts"].size(), 2u);
    EXPECT_GT(j[1]["avg_ts"].get<double>(), 0.0);
}

TEST(Bench, MarkdownTable) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(),
                                      "-p", "4", "-n", "2", "-r", "1", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("| model "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("pp4"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tg2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("13.01 MiB"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" ± "), std::string::npos) << r.out;
}

TEST(Bench, ErrorsNameTheFlag) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    auto r = test::run_command(
        {test::llamux_exe().string(), "bench", "-m", model.string(), "-o", "xml"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("-o: expected md, json, jsonl or csv, got 'xml'"), std::string::npos) << r.err;
    r = test::run_command(
        {test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "0", "-n", "0"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("-p"), std::string::npos) << r.err;
}

TEST(Bench, Statistics) {
    BenchResult r;
    r.n_gen = 10;
    r.samples_ns = {1'000'000'000, 2'000'000'000};
    EXPECT_EQ(r.avg_ns(), 1'500'000'000u);
    EXPECT_NEAR(double(r.stddev_ns()), 707106781.0, 1.0);  // sample deviation (n - 1)
    EXPECT_DOUBLE_EQ(r.avg_ts(), 7.5);
    EXPECT_NEAR(r.stddev_ts(), 3.5355339, 1e-6);
    EXPECT_EQ(r.name(), "tg10");
    r.n_prompt = 512;
    r.n_gen = 0;
    EXPECT_EQ(r.name(), "pp512");
    r.n_depth = 4096;
    EXPECT_EQ(r.name(), "pp512 @ d4096");
}

// -d: each test starts with that many tokens in the cache, as llama-bench's -d; the context
// is sized for depth + test, and a negative depth names the flag.
TEST(Bench, DepthRunsEveryTestAtEachDepth) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p",
                                "4", "-n", "2", "-d", "0,60", "-r", "2", "-t", "1", "-o", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 4u);
    const int depths[] = {0, 0, 60, 60};
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(j[i]["n_depth"], depths[i]) << i;
    EXPECT_EQ(j[3]["n_gen"], 2);
    EXPECT_EQ(j[3]["samples_ns"].size(), 2u);

    r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-n", "2",
                           "-p", "0", "-d", "-1"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("-d: expected a token count >= 0, got -1"), std::string::npos) << r.err;
}

// -t and -ngl take lists, as llama-bench's: a session per combination, -ngl outermost; the
// fields say which, and what the cache type, mmap and -fa flags were.
TEST(Bench, ThreadAndLayerListsRunEveryCombination) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "0",
                                      "-n", "2", "-r", "1", "-t", "1,2", "-ngl", "0,1", "-o", "jsonl", "-ctk",
                                      "f32", "-ctv", "f32", "-mmp", "0", "-fa", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> rows;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(rows.size(), 4u);
    const int ngl[] = {0, 0, 1, 1}, threads[] = {1, 2, 1, 2};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(rows[i]["n_gpu_layers"], ngl[i]) << i;
        EXPECT_EQ(rows[i]["n_threads"], threads[i]) << i;
        EXPECT_EQ(rows[i]["type_k"], "f32");
        EXPECT_EQ(rows[i]["use_mmap"], false);
        EXPECT_EQ(rows[i]["flash_attn"], true);
        EXPECT_EQ(rows[i]["samples_ns"].size(), 1u);
    }
}

// -ctk and -ctv take lists too, between -ngl and -t in llama-bench's order; the markdown
// table shows the types when one is not f16; a bad type is refused before the model loads.
TEST(Bench, CacheTypeListsRunEveryCombination) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "0", "-n", "2",
                                "-r", "1", "-t", "1,2", "-ctk", "f16,q8_0", "-ctv", "q4_0", "-o", "jsonl"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> rows;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(rows.size(), 4u);
    const char* type_k[] = {"f16", "f16", "q8_0", "q8_0"};
    const int threads[] = {1, 2, 1, 2};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(rows[i]["type_k"], type_k[i]) << i;
        EXPECT_EQ(rows[i]["type_v"], "q4_0") << i;
        EXPECT_EQ(rows[i]["n_threads"], threads[i]) << i;
    }
    r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "4", "-n", "0",
                           "-r", "1", "-t", "1", "-ctk", "q8_0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("| threads | type_k |          test |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("|       1 |   q8_0 |           pp4 |"), std::string::npos) << r.out;
    r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string() + ".missing", "-ctv",
                           "f16,q4_K"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("-ctv: expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got q4_K"),
              std::string::npos) << r.err;
}

// -mmp, -b, -ub and -fa take lists as well, in llama-bench's order (-mmp, -b, -ub, ... -fa,
// -t); n_ubatch is the batch the session evaluates (at most -b); the table shows a column for
// each such flag given; a value out of range is an error naming the flag.
TEST(Bench, BatchFlashAttnAndMmapListsRunEveryCombination) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "8", "-n", "0",
                                "-r", "1", "-t", "1", "-mmp", "0,1", "-b", "4,16", "-ub", "8", "-fa", "0,1",
                                "-o", "jsonl"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> rows;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(rows.size(), 8u);
    for (size_t i = 0; i < 8; ++i) {
        EXPECT_EQ(rows[i]["use_mmap"], i >= 4) << i;
        EXPECT_EQ(rows[i]["n_batch"], i % 4 < 2 ? 4 : 16) << i;
        EXPECT_EQ(rows[i]["n_ubatch"], i % 4 < 2 ? 4 : 8) << i;
        EXPECT_EQ(rows[i]["flash_attn"], i % 2 == 1) << i;
        EXPECT_EQ(rows[i]["n_prompt"], 8) << i;
    }
    r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "4", "-n", "0",
                           "-r", "1", "-t", "1", "-b", "2", "-ub", "1", "-fa", "on", "--no-mmap"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("| threads | n_batch | n_ubatch | fa | mmap |          test |"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("|       1 |       2 |        1 |  1 |    0 |           pp4 |"), std::string::npos)
        << r.out;
    for (const auto& [flag, value, message] :
         {std::tuple{"-b", "8,0", "-b: expected a batch size >= 1, got 0"},
          std::tuple{"-ub", "0", "-ub: expected a batch size >= 1, got 0"},
          std::tuple{"-fa", "1,yes", "-fa: expected on, off, auto, 1 or 0, got yes"}}) {
        r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string() + ".missing", flag, value});
        EXPECT_EQ(r.exit_code, 1) << flag;
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    }
}

TEST(Bench, CsvHasAHeaderAndQuotedValues) {
    LLAMUX_FIXTURE(model, "models/synth/synth-tiny-F32.gguf");
    const auto r = test::run_command({test::llamux_exe().string(), "bench", "-m", model.string(), "-p", "4",
                                      "-n", "2", "-r", "1", "-t", "1", "-o", "csv"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string header, pp, tg, extra;
    std::getline(lines, header);
    std::getline(lines, pp);
    std::getline(lines, tg);
    EXPECT_FALSE(std::getline(lines, extra));
    EXPECT_EQ(header.rfind("build_commit,build_number,cpu_info,", 0), 0u) << header;
    EXPECT_NE(header.find(",n_prompt,n_gen,n_depth,test_time,avg_ns,stddev_ns,avg_ts,stddev_ts"), std::string::npos);
    EXPECT_EQ(header.find("samples_ns"), std::string::npos);  // arrays stay out, as in llama-bench
    EXPECT_EQ(pp.rfind("\"llamux\",\"0\",", 0), 0u) << pp;
    EXPECT_NE(pp.find(",\"4\",\"0\",\"0\","), std::string::npos) << pp;  // n_prompt, n_gen, n_depth
    EXPECT_NE(tg.find(",\"0\",\"2\",\"0\","), std::string::npos) << tg;
}

}  // namespace
}  // namespace llamux
