#include <string>
#include <utility>

#include "llamux/grammar_sampling.hpp"
#include "llamux/tokenizer.hpp"

namespace llamux {
namespace {

class GrammarConstraint : public TokenConstraint {
public:
    GrammarConstraint(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocab> vocab)
        : state_(std::move(grammar)), vocab_(std::move(vocab)) {}

    bool allows(int32_t token) const override { return vocab_->allows(state_, token); }
    void allowed(std::vector<uint8_t>& mask) const override { vocab_->allowed(state_, mask); }
    void accept(int32_t token) override { state_.advance(vocab_->bytes(token)); }

private:
    GrammarState state_;
    std::shared_ptr<const GrammarVocab> vocab_;
};

}  // namespace

std::shared_ptr<const GrammarVocab> grammar_vocab(const Tokenizer& tokenizer,
                                                  const std::vector<int32_t>& extra_ends) {
    std::vector<std::string> bytes(static_cast<size_t>(tokenizer.n_vocab()));
    for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
        const TokenType type = tokenizer.type(id);
        if (type == TokenType::Normal || type == TokenType::Byte || type == TokenType::UserDefined) {
            bytes[size_t(id)] = tokenizer.token_to_bytes(id);
        }
    }
    std::vector<int32_t> ends = {tokenizer.eos()};
    ends.insert(ends.end(), extra_ends.begin(), extra_ends.end());
    return std::make_shared<const GrammarVocab>(std::move(bytes), std::move(ends));
}

std::unique_ptr<TokenConstraint> grammar_constraint(std::shared_ptr<const Grammar> grammar,
                                                    std::shared_ptr<const GrammarVocab> vocab) {
    return std::make_unique<GrammarConstraint>(std::move(grammar), std::move(vocab));
}

}  // namespace llamux
