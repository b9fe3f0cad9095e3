#include "stop_text.hpp"

#include <algorithm>

namespace llamux::tools {

StopText::StopText(std::vector<std::string> stops) {
    for (auto& s : stops) {
        if (s.empty()) continue;
        longest_ = std::max(longest_, s.size());
        stops_.push_back(std::move(s));
    }
}

bool StopText::push(const std::string& text) {
    if (stopped_ || text.empty()) return stopped_;
    const size_t from = text_.size() + 1 > longest_ ? text_.size() + 1 - longest_ : 0;
    text_ += text;
    size_t cut = std::string::npos;
    for (const auto& s : stops_) cut = std::min(cut, text_.find(s, from));
    if (cut != std::string::npos) {
        text_.resize(cut);
        stopped_ = true;
    }
    return stopped_;
}

std::string StopText::release(bool final) {
    const size_t end = final || stopped_ ? text_.size() : text_.size() - held_back();
    if (end <= released_) return "";
    std::string out = text_.substr(released_, end - released_);
    released_ = end;
    return out;
}

size_t StopText::held_back() const {
    // The longest end of the text that is the beginning of some stop string.
    for (size_t n = std::min(longest_ > 0 ? longest_ - 1 : 0, text_.size()); n > 0; --n) {
        const std::string_view tail(text_.data() + text_.size() - n, n);
        for (const auto& s : stops_) {
            if (std::string_view(s).substr(0, n) == tail) return n;
        }
    }
    return 0;
}

}  // namespace llamux::tools
