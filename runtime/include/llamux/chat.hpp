// Chat messages to prompt tokens, in the layout a chat model was fine-tuned on; shared by
// `llamux chat` and the Python package's create_chat_completion.
//
// - Llama2: Meta's Llama 2 chat layout, built token by token as Meta's reference code does:
//   each exchange is BOS "[INST] {user} [/INST] {answer} " EOS, the last user message
//   BOS "[INST] {user} [/INST]"; a system message goes inside the first user message
//   between <<SYS>> markers. Messages must alternate user/assistant and end with the user.
// - Zephyr (TinyLlama chat): "<|system|>\n...</s>\n<|user|>\n...</s>\n<|assistant|>\n",
//   tokenized with special tokens recognised ("</s>" is EOS).
// - ChatML: "<|im_start|>{role}\n...<|im_end|>\n" per message, then
//   "<|im_start|>assistant\n"; the answer ends at "<|im_end|>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llamux {

class GgufFile;
class Tokenizer;

enum class ChatFormat { Llama2, Zephyr, ChatML };
inline constexpr ChatFormat kChatFormats[] = {ChatFormat::Llama2, ChatFormat::Zephyr, ChatFormat::ChatML};

// "llama-2", "zephyr", "chatml".
std::string_view chat_format_name(ChatFormat format);
// The format of a name above; Error listing the names otherwise.
ChatFormat parse_chat_format(const std::string& name);
// The format a GGUF's tokenizer.chat_template is written for; Llama2 when it names none.
ChatFormat detect_chat_format(const GgufFile& file);

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

struct ChatPrompt {
    std::vector<int32_t> tokens;          // the prompt for the assistant's next answer
    std::vector<std::string> stop_texts;  // the answer ends before the first of these...
    std::vector<int32_t> stop_tokens;     // ...or at one of these tokens (as at end of text)
};

// Throws Error naming the message (messages[i]) with an unknown role, an order the format
// cannot express, or no messages at all.
ChatPrompt chat_prompt(ChatFormat format, const std::vector<ChatMessage>& messages,
                       const Tokenizer& tokenizer);

}  // namespace llamux
