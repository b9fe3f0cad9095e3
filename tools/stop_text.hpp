// Streamed answer text, cut at the first stop string: text is released only once it can no
// longer turn out to be the start of a stop string (the C++ twin of the Python package's
// completion_text.py, for `llamux chat`).
#pragma once

#include <string>
#include <vector>

namespace llamux::tools {

class StopText {
public:
    explicit StopText(std::vector<std::string> stops);
    // Appends text; true once a stop string has been seen (the text then ends before it).
    bool push(const std::string& text);
    // The text not yet released that can no longer change (all of it when final or stopped).
    std::string release(bool final = false);
    const std::string& text() const { return text_; }
    bool stopped() const { return stopped_; }

private:
    size_t held_back() const;

    std::vector<std::string> stops_;
    size_t longest_ = 0;
    std::string text_;
    size_t released_ = 0;
    bool stopped_ = false;
};

}  // namespace llamux::tools
