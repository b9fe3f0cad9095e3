#include "reverse_prompt.hpp"

#include <algorithm>

namespace llamux::tools {
namespace {

constexpr size_t kWindowTokens = 32;  // llama.cpp's common_sampler_prev_str(..., 32)
constexpr size_t kSlackBytes = 2;     // main's extra_padding when not interactive (0 when it is)

}  // namespace

ReversePrompts::ReversePrompts(const Tokenizer& tokenizer, std::vector<std::string> texts,
                               const std::vector<int32_t>& prompt, bool interactive)
    : tokenizer_(tokenizer), texts_(std::move(texts)), slack_bytes_(interactive ? 0 : kSlackBytes) {
    for (const std::string& text : texts_) {
        const std::vector<int32_t> ids = tokenizer_.encode(text, false, true);
        if (ids.size() == 1) single_tokens_.push_back(ids.front());
    }
    restart(prompt);
}

void ReversePrompts::restart(const std::vector<int32_t>& tokens) {
    recent_.clear();
    for (int32_t t : tokens) {
        recent_.push_back(t);
        if (recent_.size() > kWindowTokens) recent_.pop_front();
    }
}

bool ReversePrompts::push(int32_t token) {
    recent_.push_back(token);
    if (recent_.size() > kWindowTokens) recent_.pop_front();
    return matches();
}

bool ReversePrompts::matches() const {
    if (texts_.empty() || recent_.empty()) return false;
    std::string window;
    for (int32_t t : recent_) window += tokenizer_.token_to_bytes(t);
    for (const std::string& text : texts_) {
        const size_t from = window.size() > text.size() + slack_bytes_ ? window.size() - text.size() - slack_bytes_ : 0;
        if (window.find(text, from) != std::string::npos) return true;
    }
    return std::find(single_tokens_.begin(), single_tokens_.end(), recent_.back()) != single_tokens_.end();
}

}  // namespace llamux::tools
