// LoadOptions, llama.cpp's use_mmap / use_mlock: a model read into anonymous memory or locked
// in memory runs exactly as the mapped one. Q4_0 weights matter most: the CPU plugin repacks
// them and drops the pages of the originals, which it must only do in a file mapping (in
// anonymous memory that would zero the weights, and the next Session reads them again).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/session.hpp"
#include "test_data.hpp"

namespace llamux {
namespace {

using ::testing::HasSubstr;

constexpr LoadOptions kRead{false, false};
constexpr LoadOptions kMappedLocked{true, true};
constexpr LoadOptions kReadLocked{false, true};

int32_t argmax(const float* row, size_t n) {
    return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

// Every logit of a fresh Session over `model`: a prompt, then four greedy tokens one by one.
std::vector<float> logits_of_a_short_run(const std::shared_ptr<const Model>& model) {
    SessionOptions options;
    options.n_ctx = 64;
    options.n_threads = 2;
    Session session(model, options);
    const auto n_vocab = static_cast<size_t>(model->hparams().n_vocab);
    std::vector<float> all = session.decode(model->tokenizer().encode("Once upon a time", true), true);
    for (int i = 0; i < 4; ++i) {
        const int32_t next = argmax(all.data() + all.size() - n_vocab, n_vocab);
        const std::vector<float> row = session.decode({next});
        all.insert(all.end(), row.begin(), row.end());
    }
    return all;
}

// Bit-identical, -0.0 and NaN included; names the first difference rather than printing
// thousands of logits.
::testing::AssertionResult same_bits(const std::vector<float>& actual, const std::vector<float>& expected) {
    if (actual.size() != expected.size()) {
        return ::testing::AssertionFailure() << actual.size() << " logits, expected " << expected.size();
    }
    for (size_t i = 0; i < actual.size(); ++i) {
        if (std::memcmp(&actual[i], &expected[i], sizeof(float)) != 0) {
            return ::testing::AssertionFailure()
                   << "logit " << i << " is " << actual[i] << ", expected " << expected[i];
        }
    }
    return ::testing::AssertionSuccess();
}

// The tensor bytes of the two models are the same (none was zeroed or lost).
void expect_same_weights(const Model& a, const Model& b) {
    const auto& ta = a.file().tensors();
    const auto& tb = b.file().tensors();
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t i = 0; i < ta.size(); ++i) {
        ASSERT_EQ(ta[i].n_bytes, tb[i].n_bytes) << ta[i].name;
        EXPECT_EQ(std::memcmp(ta[i].data, tb[i].data, ta[i].n_bytes), 0) << ta[i].name;
    }
}

class LoadOptionsRun : public ::testing::TestWithParam<std::string> {};

TEST_P(LoadOptionsRun, LogitsMatchTheMappedModelBitForBit) {
    LLAMUX_FIXTURE(path, "models/" + GetParam());
    const auto mapped = Model::load(path.string());
    const std::vector<float> expected = logits_of_a_short_run(mapped);
    for (const LoadOptions& options : {kRead, kMappedLocked, kReadLocked}) {
        SCOPED_TRACE(testing::Message() << "use_mmap " << options.use_mmap << ", use_mlock "
                                        << options.use_mlock);
        const auto model = Model::load(path.string(), options);
        // The second Session reads the originals of the weights the first one repacked.
        EXPECT_TRUE(same_bits(logits_of_a_short_run(model), expected)) << "first session";
        EXPECT_TRUE(same_bits(logits_of_a_short_run(model), expected)) << "second session";
        expect_same_weights(*model, *mapped);
    }
}

INSTANTIATE_TEST_SUITE_P(Models, LoadOptionsRun,
                         ::testing::Values("stories260K.gguf", "synth/synth-tiny-Q4_0.gguf"),
                         test::reference_test_name);

TEST(LoadOptions, ReadingAMissingFileOrADirectoryIsAnErrorNamingIt) {
    test::TempDir dir;
    for (const auto& path : {(dir.path() / "absent.gguf").string(), dir.path().string()}) {
        try {
            GgufFile::open(path, kRead);
            ADD_FAILURE() << "opened " << path;
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr(path + ": "));
        }
    }
}

size_t occurrences(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

// Takes away the right to lock memory (RLIMIT_MEMLOCK 0 and, for root, another user: no
// CAP_IPC_LOCK), which cannot be given back, then loads with use_mlock; exits 0 when loaded.
[[noreturn]] void load_without_the_right_to_lock(const std::string& path) {
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_MEMLOCK, &none) != 0) std::_Exit(2);
    if (::geteuid() == 0 && ::setuid(65534) != 0) std::_Exit(3);  // nobody
    const auto model = Model::load(path, kReadLocked);
    std::_Exit(model->hparams().n_vocab > 0 ? 0 : 4);
}

// A refused lock warns once, naming the file, the size and the fix, and the model loads.
TEST(LoadOptions, ARefusedLockWarnsOnceAndLoads) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer intercepts mlock and lets it succeed: no refusal to see";
#endif
    LLAMUX_FIXTURE(path, "models/stories260K.gguf");
    GTEST_FLAG_SET(death_test_style, "threadsafe");  // a child process: the change is for good
    const std::string size = std::to_string(std::filesystem::file_size(path));
    const auto warned_once = [&](const std::string& err) {
        return occurrences(err, "cannot lock " + size + " bytes in memory") == 1 &&
               err.find(path.string()) != std::string::npos && err.find("ulimit -l") != std::string::npos;
    };
    EXPECT_EXIT(load_without_the_right_to_lock(path.string()), ::testing::ExitedWithCode(0),
                ::testing::Truly(warned_once));
}

}  // namespace
}  // namespace llamux
