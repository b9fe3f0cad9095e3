// The Llama SentencePiece tokenizer: the merge algorithm on a toy vocabulary, llama.cpp's
// own test vectors on the 32000-token Llama vocabulary, the prompts of the reference files,
// the streaming decoder and `llamux tokenize`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/tokenizer.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

namespace fs = std::filesystem;

const std::string kSp = "\xE2\x96\x81";  // ▁

// <unk>, <s>, </s>, the 256 byte tokens (ids 3..258), then the given normal pieces.
Tokenizer toy_tokenizer(const std::vector<std::pair<std::string, float>>& normal) {
    std::vector<std::string> pieces{"<unk>", "<s>", "</s>"};
    std::vector<float> scores{0, 0, 0};
    std::vector<TokenType> types{TokenType::Unknown, TokenType::Control, TokenType::Control};
    for (int b = 0; b < 256; ++b) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", b);
        pieces.emplace_back(buf);
        scores.push_back(0);
        types.push_back(TokenType::Byte);
    }
    for (const auto& [text, score] : normal) {
        pieces.push_back(text);
        scores.push_back(score);
        types.push_back(TokenType::Normal);
    }
    return Tokenizer::from_vocab(pieces, scores, types, 1, 2, 0, true, "toy");
}

constexpr int32_t kFirstNormal = 259;
int32_t byte_id(int b) { return 3 + b; }

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<int32_t> parse_ids(const std::string& line) {
    std::istringstream in(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (in >> id) ids.push_back(id);
    return ids;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// ---- the algorithm, on a toy vocabulary ---------------------------------------------------

TEST(TokenizerToy, HighestScoringPairMergesFirst) {
    // "abc": bc (-1) beats ab (-2), and abc is not a token: a + bc.
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {"b", -3}, {"c", -3},
                                       {"ab", -2}, {"bc", -1}});
    EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{kFirstNormal, kFirstNormal + 1,
                                                             kFirstNormal + 5}));
    // With ab the better pair: ab + c.
    const Tokenizer u = toy_tokenizer({{kSp, -5}, {"a", -3}, {"b", -3}, {"c", -3},
                                       {"ab", -1}, {"bc", -2}});
    EXPECT_EQ(u.encode("abc", false), (std::vector<int32_t>{kFirstNormal, kFirstNormal + 4,
                                                             kFirstNormal + 3}));
}

TEST(TokenizerToy, MergesChainIntoLongerTokens) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {"b", -3}, {"c", -3},
                                       {"ab", -2}, {"bc", -1}, {kSp + "a", -4}, {kSp + "abc", -6}});
    // bc (-1) first, then ▁a (-4); ab is stale by then. ▁a + bc spells ▁abc, a token.
    EXPECT_EQ(t.encode("abc", false), (std::vector<int32_t>{kFirstNormal + 7}));
}

TEST(TokenizerToy, EqualScoresMergeLeftmostFirst) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {"aa", -1}});
    // ▁aaa: aa at (1,2) and (2,3) tie; the left one wins: ▁ aa a.
    EXPECT_EQ(t.encode("aaa", false),
              (std::vector<int32_t>{kFirstNormal, kFirstNormal + 2, kFirstNormal + 1}));
}

TEST(TokenizerToy, UnknownCharactersFallBackToBytes) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}});
    // é is C3 A9 and not a token.
    EXPECT_EQ(t.encode("a\xC3\xA9", false),
              (std::vector<int32_t>{kFirstNormal, kFirstNormal + 1, byte_id(0xC3), byte_id(0xA9)}));
    EXPECT_EQ(t.decode(t.encode("a\xC3\xA9", false)), "a\xC3\xA9");
}

TEST(TokenizerToy, SpacesBecomeTheSpaceMark) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {kSp + "a", -1}});
    EXPECT_EQ(t.encode("a a", false), (std::vector<int32_t>{kFirstNormal + 2, kFirstNormal + 2}));
    EXPECT_EQ(t.decode(t.encode("a a", false)), "a a");
    EXPECT_EQ(t.decode(t.encode(" a", false)), " a");
}

TEST(TokenizerToy, EmptyTextGivesNoTokens) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}});
    EXPECT_TRUE(t.encode("", false).empty());
    EXPECT_EQ(t.encode("", true), (std::vector<int32_t>{1}));
    EXPECT_EQ(t.decode({}), "");
}

TEST(TokenizerToy, BosComesFirstAndDecodeDropsThePrefixSpace) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {kSp + "a", -1}});
    const std::vector<int32_t> ids = t.encode("a", true);
    EXPECT_EQ(ids, (std::vector<int32_t>{1, kFirstNormal + 2}));
    EXPECT_EQ(t.decode(ids), "a");
    EXPECT_EQ(t.token_to_bytes(kFirstNormal + 2), " a");
    EXPECT_EQ(t.token_to_bytes(1), "");
    EXPECT_EQ(t.token_to_bytes(byte_id(0x0A)), "\n");
}

TEST(TokenizerToy, SpecialTextsAreParsedOnlyWhenAsked) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}, {"b", -3}, {kSp + "a", -1}});
    // a</s>b: ▁a, </s>, then ▁b (raw text after a special token gets the prefix again).
    EXPECT_EQ(t.encode("a</s>b", false, true),
              (std::vector<int32_t>{kFirstNormal + 3, 2, kFirstNormal, kFirstNormal + 2}));
    const std::vector<int32_t> plain = t.encode("a</s>b", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
    EXPECT_EQ(plain.front(), kFirstNormal + 3);
    EXPECT_EQ(t.decode(plain), "a</s>b");
    EXPECT_EQ(t.encode("<s>", false, true), (std::vector<int32_t>{1}));
}

TEST(TokenizerToy, InconsistentVocabulariesAreRejected) {
    const std::vector<std::string> pieces{"<unk>", "<s>", "</s>", "a"};
    const std::vector<TokenType> types(4, TokenType::Normal);
    try {
        Tokenizer::from_vocab(pieces, {0, 0, 0}, types, 1, 2, 0, true, "v.gguf");
        FAIL() << "expected Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("scores"), std::string::npos) << msg;
        EXPECT_NE(msg.find("expected 4"), std::string::npos) << msg;
        EXPECT_NE(msg.find("found 3"), std::string::npos) << msg;
        EXPECT_NE(msg.find("v.gguf"), std::string::npos) << msg;
    }
    EXPECT_THROW(Tokenizer::from_vocab(pieces, {0, 0, 0, 0}, {TokenType::Normal}, 1, 2, 0, true,
                                       "v.gguf"),
                 Error);
    try {
        Tokenizer::from_vocab(pieces, {0, 0, 0, 0}, types, 4, 2, 0, true, "v.gguf");
        FAIL() << "expected Error";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("bos"), std::string::npos) << msg;
        EXPECT_NE(msg.find("found 4"), std::string::npos) << msg;
    }
    EXPECT_THROW(Tokenizer::from_vocab({}, {}, {}, 1, 2, 0, true, "v.gguf"), Error);
    const Tokenizer t = Tokenizer::from_vocab(pieces, {0, 0, 0, 0}, types, 1, 2, 0, true, "v");
    EXPECT_THROW(t.piece(4), Error);
    EXPECT_THROW(t.token_to_bytes(-1), Error);
    EXPECT_THROW(t.decode({0, 9}), Error);
}

// ---- from_gguf on small hand-written files ----------------------------------------------

// A GGUF v3 file with metadata only, written byte by byte.
class GgufWriter {
public:
    void add_string(const std::string& key, const std::string& v) {
        header(key, 8);
        str(v);
        ++n_kv_;
    }
    void add_u32(const std::string& key, uint32_t v) {
        header(key, 4);
        pod(v);
        ++n_kv_;
    }
    void add_bool(const std::string& key, bool v) {
        header(key, 7);
        pod(static_cast<uint8_t>(v));
        ++n_kv_;
    }
    void add_strings(const std::string& key, const std::vector<std::string>& v) {
        header(key, 9);
        pod(uint32_t{8});
        pod(static_cast<uint64_t>(v.size()));
        for (const auto& s : v) str(s);
        ++n_kv_;
    }
    template <typename T>
    void add_array(const std::string& key, uint32_t elem_type, const std::vector<T>& v) {
        header(key, 9);
        pod(elem_type);
        pod(static_cast<uint64_t>(v.size()));
        for (const T& x : v) pod(x);
        ++n_kv_;
    }
    void write(const fs::path& path) const {
        std::ofstream out(path, std::ios::binary);
        out.write("GGUF", 4);
        const uint32_t version = 3;
        const uint64_t n_tensors = 0;
        out.write(reinterpret_cast<const char*>(&version), sizeof version);
        out.write(reinterpret_cast<const char*>(&n_tensors), sizeof n_tensors);
        out.write(reinterpret_cast<const char*>(&n_kv_), sizeof n_kv_);
        out.write(body_.data(), static_cast<std::streamsize>(body_.size()));
    }

private:
    template <typename T>
    void pod(T v) {
        body_.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    void str(const std::string& s) {
        pod(static_cast<uint64_t>(s.size()));
        body_ += s;
    }
    void header(const std::string& key, uint32_t type) {
        str(key);
        pod(type);
    }
    std::string body_;
    uint64_t n_kv_ = 0;
};

GgufWriter toy_gguf(size_t n_scores, std::vector<int32_t> types = {2, 3, 3, 1, 1, 1}) {
    GgufWriter w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", kSp, "a", kSp + "a"});
    w.add_array("tokenizer.ggml.scores", 6, std::vector<float>(n_scores, 0.0f));
    w.add_array("tokenizer.ggml.token_type", 5, types);
    return w;
}

std::string load_error(const GgufWriter& w, const fs::path& path) {
    w.write(path);
    try {
        Tokenizer::from_gguf(GgufFile::open(path.string()));
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TokenizerGguf, ReadsAHandWrittenVocabulary) {
    test::TempDir dir;
    GgufWriter w = toy_gguf(6);
    w.add_bool("tokenizer.ggml.add_bos_token", false);
    w.add_u32("tokenizer.ggml.bos_token_id", 2);
    const fs::path path = dir.path() / "v.gguf";
    w.write(path);
    const Tokenizer t = Tokenizer::from_gguf(GgufFile::open(path.string()));
    EXPECT_EQ(t.n_vocab(), 6);
    EXPECT_FALSE(t.add_bos());
    EXPECT_TRUE(t.add_space_prefix());
    EXPECT_EQ(t.bos(), 2);
    EXPECT_EQ(t.eos(), 2);
    EXPECT_EQ(t.unk(), 0);
    EXPECT_EQ(t.type(1), TokenType::Control);
    EXPECT_EQ(t.encode("a", false), (std::vector<int32_t>{5}));

    GgufWriter no_prefix = toy_gguf(6);
    no_prefix.add_bool("tokenizer.ggml.add_space_prefix", false);
    no_prefix.write(path);
    const Tokenizer u = Tokenizer::from_gguf(GgufFile::open(path.string()));
    EXPECT_FALSE(u.add_space_prefix());
    EXPECT_EQ(u.encode("a", false), (std::vector<int32_t>{4}));
    EXPECT_EQ(u.decode({3, 4}), " a");
}

TEST(TokenizerGguf, ErrorsNameTheFileAndTheKey) {
    test::TempDir dir;
    const fs::path path = dir.path() / "bad.gguf";

    std::string msg = load_error(toy_gguf(5), path);
    EXPECT_NE(msg.find("tokenizer.ggml.scores"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("file has 5"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;

    GgufWriter bad_id = toy_gguf(6);
    bad_id.add_u32("tokenizer.ggml.eos_token_id", 6);
    msg = load_error(bad_id, path);
    EXPECT_NE(msg.find("tokenizer.ggml.eos_token_id"), std::string::npos) << msg;
    EXPECT_NE(msg.find("file has 6"), std::string::npos) << msg;

    GgufWriter no_tokens;
    no_tokens.add_string("tokenizer.ggml.model", "llama");
    msg = load_error(no_tokens, path);
    EXPECT_NE(msg.find("tokenizer.ggml.tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;

    GgufWriter gpt2;
    gpt2.add_string("tokenizer.ggml.model", "gpt2");
    msg = load_error(gpt2, path);
    EXPECT_NE(msg.find("tokenizer.ggml.model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gpt2"), std::string::npos) << msg;

    msg = load_error(toy_gguf(6, {2, 3, 3, 1, 1, 9}), path);
    EXPECT_NE(msg.find("tokenizer.ggml.token_type"), std::string::npos) << msg;
}

// ---- streaming ---------------------------------------------------------------------------

TEST(StreamDecoder, HoldsAMultiByteCharacterUntilComplete) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}});
    StreamDecoder d(t);
    // 🦙 is F0 9F A6 99.
    EXPECT_EQ(d.push(kFirstNormal + 1), "a");
    EXPECT_EQ(d.push(byte_id(0xF0)), "");
    EXPECT_EQ(d.push(byte_id(0x9F)), "");
    EXPECT_EQ(d.push(byte_id(0xA6)), "");
    EXPECT_EQ(d.push(byte_id(0x99)), "\xF0\x9F\xA6\x99");
    EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, FlushAndBrokenSequencesGiveReplacementCharacters) {
    const Tokenizer t = toy_tokenizer({{kSp, -5}, {"a", -3}});
    const std::string fffd = "\xEF\xBF\xBD";
    StreamDecoder d(t);
    EXPECT_EQ(d.push(byte_id(0xE2)), "");
    EXPECT_EQ(d.push(byte_id(0x96)), "");
    EXPECT_EQ(d.flush(), fffd);
    EXPECT_EQ(d.flush(), "");
    // A byte that can never start a character comes out at once.
    EXPECT_EQ(d.push(byte_id(0xFF)), fffd);
    // A lead byte followed by a non-continuation: the lead is replaced, the rest kept.
    EXPECT_EQ(d.push(byte_id(0xC3)), "");
    EXPECT_EQ(d.push(kFirstNormal + 1), fffd + "a");
}

// ---- the Llama 2 vocabulary: llama.cpp's test vectors ------------------------------------

TEST(TokenizerLlamaVocab, MatchesLlamaCppTestVectors) {
    LLAMUX_FIXTURE(vocab_path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    LLAMUX_FIXTURE(inp_path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf.inp");
    LLAMUX_FIXTURE(out_path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf.out");
    const GgufFile file = GgufFile::open(vocab_path.string());
    const Tokenizer tok = Tokenizer::from_gguf(file);
    EXPECT_EQ(tok.n_vocab(), 32000);
    EXPECT_EQ(tok.bos(), 1);
    EXPECT_EQ(tok.eos(), 2);
    EXPECT_EQ(tok.unk(), 0);
    EXPECT_TRUE(tok.add_bos());

    const std::string sep = "\n__ggml_vocab_test__\n";
    const std::string inp = read_file(inp_path);
    std::vector<std::string> inputs;
    size_t pos = 0;
    for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) {
        inputs.push_back(inp.substr(pos, hit - pos));
    }
    EXPECT_EQ(pos, inp.size()) << "the input file should end with the separator";
    const std::vector<std::string> expected = split_lines(read_file(out_path));
    ASSERT_EQ(inputs.size(), 46u);
    ASSERT_EQ(expected.size(), inputs.size());

    for (size_t i = 0; i < inputs.size(); ++i) {
        SCOPED_TRACE("input " + std::to_string(i) + ": \"" + inputs[i] + "\"");
        const std::vector<int32_t> ids = tok.encode(inputs[i], false);
        EXPECT_EQ(ids, parse_ids(expected[i]));
        EXPECT_EQ(tok.decode(ids), inputs[i]);
        // With BOS the ids are the same after it, and decode gives the text back too.
        const std::vector<int32_t> with_bos = tok.encode(inputs[i], true);
        ASSERT_FALSE(with_bos.empty());
        EXPECT_EQ(with_bos.front(), 1);
        EXPECT_EQ(std::vector<int32_t>(with_bos.begin() + 1, with_bos.end()), ids);
        EXPECT_EQ(tok.decode(with_bos), inputs[i]);
    }
}

TEST(TokenizerLlamaVocab, ParsesSpecialTokensWhenAsked) {
    LLAMUX_FIXTURE(vocab_path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(vocab_path.string()));
    EXPECT_EQ(tok.piece(1), "<s>");
    EXPECT_EQ(tok.type(1), TokenType::Control);
    EXPECT_EQ(tok.piece(13), "<0x0A>");
    EXPECT_EQ(tok.type(13), TokenType::Byte);
    // llama.cpp: "<s>Hello</s>" parsed gives BOS, ▁Hello, EOS.
    EXPECT_EQ(tok.encode("<s>Hello</s>", false, true), (std::vector<int32_t>{1, 15043, 2}));
    const std::vector<int32_t> plain = tok.encode("<s>Hello</s>", false, false);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0);
    EXPECT_EQ(tok.decode(plain), "<s>Hello</s>");
}

TEST(TokenizerLlamaVocab, StreamDecoderJoinsByteTokens) {
    LLAMUX_FIXTURE(vocab_path, "testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(vocab_path.string()));
    // " this is 🦙.cpp": the llama is four byte tokens 243 162 169 156.
    const std::vector<int32_t> ids = tok.encode(" this is \xF0\x9F\xA6\x99.cpp", false);
    ASSERT_EQ(ids, (std::vector<int32_t>{29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223}));
    StreamDecoder d(tok);
    std::vector<std::string> chunks;
    for (const int32_t id : ids) chunks.push_back(d.push(id));
    EXPECT_EQ(chunks[4], "");
    EXPECT_EQ(chunks[5], "");
    EXPECT_EQ(chunks[6], "");
    EXPECT_EQ(chunks[7], "\xF0\x9F\xA6\x99");
    std::string all;
    for (const auto& c : chunks) all += c;
    all += d.flush();
    EXPECT_EQ(all, "  this is \xF0\x9F\xA6\x99.cpp");  // no prefix-space removal when streaming
}

// ---- the stories260K vocabulary (512 tokens) ---------------------------------------------

TEST(TokenizerStories, OnceUponATime) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(model.string()));
    EXPECT_EQ(tok.n_vocab(), 512);
    const std::vector<int32_t> ids = tok.encode("Once upon a time", true);
    EXPECT_EQ(ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));
    EXPECT_EQ(tok.decode(ids), "Once upon a time");
}

TEST(TokenizerStories, ReferencePromptsMatch) {
    LLAMUX_FIXTURE(ref_dir, "testdata/reference");
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(ref_dir)) {
        if (entry.path().extension() != ".json") continue;
        const test::Reference ref = test::load_reference(entry.path());
        fs::path model = test::find_fixture("models/" + ref.model);
        if (model.empty()) model = test::find_fixture("models/synth/" + ref.model);
        if (model.empty()) continue;
        SCOPED_TRACE(entry.path().filename().string());
        const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(model.string()));
        EXPECT_EQ(tok.n_vocab(), ref.n_vocab);
        EXPECT_EQ(tok.encode(ref.prompt, true), ref.prompt_tokens);
        EXPECT_EQ(tok.decode(ref.prompt_tokens), ref.prompt);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

// ---- llamux tokenize ---------------------------------------------------------------------

TEST(TokenizeCommand, PrintsIds) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    if (!fs::exists(test::llamux_exe())) GTEST_SKIP() << "not built: " << test::llamux_exe();
    const auto r = test::run_command({test::llamux_exe().string(), "tokenize", "-m",
                                      model.string(), "-p", "Once upon a time", "--ids"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "1 403 407 261 378\n");

    const auto no_bos = test::run_command({test::llamux_exe().string(), "tokenize", "-m",
                                           model.string(), "-p", "Once upon a time", "--ids",
                                           "--no-bos"});
    EXPECT_EQ(no_bos.out, "403 407 261 378\n");
}

TEST(TokenizeCommand, PrintsPiecesFromAFile) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    if (!fs::exists(test::llamux_exe())) GTEST_SKIP() << "not built: " << test::llamux_exe();
    test::TempDir dir;
    const fs::path text = dir.path() / "prompt.txt";
    std::ofstream(text) << "Once upon a time";
    const auto r = test::run_command({test::llamux_exe().string(), "tokenize", "-m",
                                      model.string(), "-f", text.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::vector<std::string> lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 5u) << r.out;
    EXPECT_EQ(lines[0], "1\t<s>");
    EXPECT_EQ(lines[1].substr(0, 4), "403\t");
}

TEST(TokenizeCommand, RejectsBadArguments) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    if (!fs::exists(test::llamux_exe())) GTEST_SKIP() << "not built: " << test::llamux_exe();
    const std::string exe = test::llamux_exe().string();
    const auto both = test::run_command({exe, "tokenize", "-m", model.string(), "-p", "x",
                                         "-f", model.string()});
    EXPECT_EQ(both.exit_code, 1);
    EXPECT_NE(both.err.find("-p"), std::string::npos) << both.err;
    const auto neither = test::run_command({exe, "tokenize", "-m", model.string()});
    EXPECT_EQ(neither.exit_code, 1);
    const auto missing = test::run_command({exe, "tokenize", "-m", "/nonexistent.gguf", "-p", "x"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent.gguf"), std::string::npos) << missing.err;
    const auto missing_file = test::run_command(
        {exe, "tokenize", "-m", model.string(), "-f", "/nonexistent.txt"});
    EXPECT_EQ(missing_file.exit_code, 1);
    EXPECT_NE(missing_file.err.find("/nonexistent.txt"), std::string::npos) << missing_file.err;
}

}  // namespace
}  // namespace llamux
