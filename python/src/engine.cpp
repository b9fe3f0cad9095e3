#include "engine.hpp"

namespace llamux::python {

Engine::Engine(const std::string& model_path, const SessionOptions& options)
    : model_(Model::load(model_path)), session_(std::make_unique<Session>(model_, options)) {}

void Engine::eval(const std::vector<int32_t>& tokens) {
    logits_ = session_->decode(tokens, false);
}

void Engine::rewind(int32_t n) {
    session_->rewind(n);
    logits_.clear();
}

std::vector<std::pair<std::string, std::string>> Engine::metadata() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [key, value] : model_->file().metadata()) {
        if (value.as_array()) continue;
        const std::string* text = value.as_string();
        out.emplace_back(key, text ? *text : value.to_display());
    }
    return out;
}

}  // namespace llamux::python
