#include "session_helpers.hpp"

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

}  // namespace llamux::test
