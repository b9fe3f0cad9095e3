#include "session_helpers.hpp"

#include "llamux/gguf.hpp"
#include "llamux/gguf_writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "llamux/generator.hpp"
#include "test_data.hpp"

namespace llamux::test {

std::filesystem::path model_fixture(const std::string& name) {
    const std::filesystem::path p = find_fixture("models/" + name);
    return p.empty() ? find_fixture("models/synth/" + name) : p;
}

std::pair<std::vector<int32_t>, std::string> greedy(Session& session, const Tokenizer& tok,
                                                    const std::vector<int32_t>& prompt, int32_t n) {
    GenerateOptions options;
    options.n_predict = n;
    options.sampling.temperature = 0.0f;
    std::vector<int32_t> tokens;
    std::string text;
    StreamDecoder decoder(tok);
    generate(session, prompt, options, [&](int32_t token) {
        tokens.push_back(token);
        text += decoder.push(token);
        return true;
    });
    text += decoder.flush();
    return {tokens, text};
}

std::pair<std::vector<int32_t>, int32_t> greedy_shifting(Session& session,
                                                         const std::vector<int32_t>& prompt,
                                                         int32_t n) {
    GenerateOptions options;
    options.n_predict = n;
    options.context_shift = true;
    options.sampling.temperature = 0.0f;
    std::vector<int32_t> tokens;
    const GenerateStats stats = generate(session, prompt, options, [&](int32_t token) {
        tokens.push_back(token);
        return true;
    });
    return {tokens, stats.n_shifts};
}

void expect_all_but_embedding_on(Session& session, const std::string& backend) {
    for (int32_t n_tokens : {1, 7}) {
        ExecutionPlan& plan = session.plan(n_tokens, false);
        EXPECT_EQ(plan.stats().n_fallback_nodes, 0u) << n_tokens << " tokens";
        const auto& backends = plan.node_backends();
        ASSERT_FALSE(backends.empty());
        EXPECT_EQ(backends.front(), "cpu");  // get_rows
        EXPECT_EQ(std::count(backends.begin(), backends.end(), backend),
                  static_cast<std::ptrdiff_t>(backends.size()) - 1)
            << n_tokens << " tokens";
    }
}

std::shared_ptr<const Model> one_block_model(const std::filesystem::path& source, const std::filesystem::path& dir) {
    static std::vector<GgufFile> keep_alive;  // the writer borrows the source's tensor bytes
    keep_alive.push_back(GgufFile::open(source.string()));
    const GgufFile& f = keep_alive.back();
    GgufWriter w;
    w.copy_metadata(f);
    w.set_uint32("llama.block_count", 1);
    for (const auto& t : f.tensors()) {
        if (t.name.rfind("blk.", 0) == 0 && t.name.rfind("blk.0.", 0) != 0) continue;
        w.add_tensor_view(t.name, t.dtype, {t.ne.begin(), t.ne.begin() + t.n_dims}, t.data, t.n_bytes);
    }
    const auto path = dir / ("one-block-" + source.filename().string());
    w.write(path.string());
    return Model::load(path.string());
}

}  // namespace llamux::test
