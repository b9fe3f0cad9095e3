#include "llamux/chat.hpp"

#include "llamux/error.hpp"
#include "llamux/gguf.hpp"
#include "llamux/tokenizer.hpp"

namespace llamux {
namespace {

std::string trim(const std::string& s) {
    const char* space = " \t\n\r\f\v";
    const size_t begin = s.find_first_not_of(space);
    if (begin == std::string::npos) return "";
    return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

void check_roles(const std::vector<ChatMessage>& messages) {
    if (messages.empty()) throw Error("messages: expected at least one message");
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string& r = messages[i].role;
        if (r != "system" && r != "user" && r != "assistant") {
            throw Error("messages[" + std::to_string(i) +
                        "]: role must be one of system, user, assistant, got '" + r + "'");
        }
    }
}

std::vector<int32_t> llama2(std::vector<ChatMessage> m, const Tokenizer& tok) {
    size_t offset = 0;  // m[i] after merging the system message was messages[i + offset]
    if (m[0].role == "system") {
        if (m.size() < 2 || m[1].role != "user") {
            throw Error("messages[1]: llama-2 chat needs a user message after the system message");
        }
        m[1].content = "<<SYS>>\n" + m[0].content + "\n<</SYS>>\n\n" + m[1].content;
        m.erase(m.begin());
        offset = 1;
    }
    for (size_t i = 0; i < m.size(); ++i) {
        const char* expected = i % 2 == 0 ? "user" : "assistant";
        if (m[i].role != expected) {
            throw Error("messages: llama-2 chat alternates user and assistant (an optional system "
                        "message first) and ends with a user message; messages[" +
                        std::to_string(i + offset) + "] is '" + m[i].role + "'");
        }
    }
    if (m.back().role != "user") throw Error("messages: the last message must come from the user");

    std::vector<int32_t> tokens;
    auto append = [&](const std::string& text) {
        tokens.push_back(tok.bos());
        const std::vector<int32_t> t = tok.encode(text, false);
        tokens.insert(tokens.end(), t.begin(), t.end());
    };
    for (size_t i = 0; i + 1 < m.size(); i += 2) {
        append("[INST] " + trim(m[i].content) + " [/INST] " + trim(m[i + 1].content) + " ");
        tokens.push_back(tok.eos());
    }
    append("[INST] " + trim(m.back().content) + " [/INST]");
    return tokens;
}

}  // namespace

std::string_view chat_format_name(ChatFormat format) {
    switch (format) {
        case ChatFormat::Llama2: return "llama-2";
        case ChatFormat::Zephyr: return "zephyr";
        case ChatFormat::ChatML: return "chatml";
    }
    return "?";
}

ChatFormat parse_chat_format(const std::string& name) {
    for (ChatFormat f : kChatFormats) {
        if (name == chat_format_name(f)) return f;
    }
    throw Error("chat format: expected llama-2, zephyr or chatml, got '" + name + "'");
}

ChatFormat detect_chat_format(const GgufFile& file) {
    const auto t = file.get_string("tokenizer.chat_template");
    if (!t) return ChatFormat::Llama2;
    if (t->find("<|im_start|>") != std::string::npos) return ChatFormat::ChatML;
    if (t->find("<|assistant|>") != std::string::npos) return ChatFormat::Zephyr;
    return ChatFormat::Llama2;
}

ChatPrompt chat_prompt(ChatFormat format, const std::vector<ChatMessage>& messages,
                       const Tokenizer& tok) {
    check_roles(messages);
    ChatPrompt p;
    switch (format) {
        case ChatFormat::Llama2:
            p.tokens = llama2(messages, tok);
            break;
        case ChatFormat::Zephyr: {
            std::string text;
            for (const auto& m : messages) text += "<|" + m.role + "|>\n" + m.content + "</s>\n";
            p.tokens = tok.encode(text + "<|assistant|>\n", tok.add_bos(), true);
            break;
        }
        case ChatFormat::ChatML: {
            std::string text;
            for (const auto& m : messages) text += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            p.tokens = tok.encode(text + "<|im_start|>assistant\n", tok.add_bos(), true);
            // A chat model's vocabulary has <|im_end|> as one special token, which prints
            // nothing: stop at the token then. Elsewhere it is plain text.
            const std::vector<int32_t> end = tok.encode("<|im_end|>", false, true);
            if (end.size() == 1 && tok.type(end[0]) != TokenType::Normal) {
                p.stop_tokens.push_back(end[0]);
            } else {
                p.stop_texts.push_back("<|im_end|>");
            }
            break;
        }
    }
    return p;
}

}  // namespace llamux
