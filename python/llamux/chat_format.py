"""Chat messages to prompt tokens, in the format the model was fine-tuned on.

- "llama-2": Meta's Llama 2 chat layout, built token by token as Meta's reference code
  builds it: each exchange is BOS "[INST] {user} [/INST] {answer} " EOS, the last user
  message BOS "[INST] {user} [/INST]", and a system message goes inside the first user
  message between <<SYS>> markers.
- "zephyr" (TinyLlama chat): "<|system|>\\n...</s>\\n<|user|>\\n...</s>\\n<|assistant|>\\n".
- "chatml": "<|im_start|>user\\n...<|im_end|>\\n ... <|im_start|>assistant\\n", which stops at
  "<|im_end|>".

`detect` picks one from the GGUF's tokenizer.chat_template, "llama-2" when there is none.
"""

FORMATS = ("llama-2", "zephyr", "chatml")
ROLES = ("system", "user", "assistant")


def detect(metadata):
    template = metadata.get("tokenizer.chat_template", "")
    if "<|im_start|>" in template:
        return "chatml"
    if "<|assistant|>" in template:
        return "zephyr"
    return "llama-2"


def check_messages(messages):
    """Raises ValueError naming the first malformed message."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("messages: expected a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"messages[{i}]: expected a dict with 'role' and 'content', got {m!r}")
        if m["role"] not in ROLES:
            raise ValueError(f"messages[{i}]: role must be one of {', '.join(ROLES)}, got {m['role']!r}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}]: content must be a string, got {m.get('content')!r}")


def prompt_tokens(chat_format, messages, tokenize, bos, eos):
    """The prompt for the assistant's next answer, and the stop strings the format needs.

    tokenize(text, add_bos, special) -> list of ids.
    """
    check_messages(messages)
    if chat_format == "llama-2":
        return _llama2(messages, tokenize, bos, eos), []
    if chat_format == "zephyr":
        text = "".join(f"<|{m['role']}|>\n{m['content']}</s>\n" for m in messages) + "<|assistant|>\n"
        return tokenize(text, True, True), []
    if chat_format == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return tokenize(text + "<|im_start|>assistant\n", True, True), ["<|im_end|>"]
    raise ValueError(f"chat_format: expected one of {', '.join(FORMATS)}, got {chat_format!r}")


def _llama2(messages, tokenize, bos, eos):
    messages = list(messages)
    offset = 0  # message i after merging the system message was messages[i + offset]
    if messages[0]["role"] == "system":
        if len(messages) < 2 or messages[1]["role"] != "user":
            raise ValueError("messages[1]: llama-2 chat needs a user message after the system message")
        merged = f"<<SYS>>\n{messages[0]['content']}\n<</SYS>>\n\n{messages[1]['content']}"
        messages = [{"role": "user", "content": merged}] + messages[2:]
        offset = 1
    for i, m in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise ValueError(
                f"messages: llama-2 chat alternates user and assistant (an optional system "
                f"message first) and ends with a user message; messages[{i + offset}] is {m['role']!r}")
    if messages[-1]["role"] != "user":
        raise ValueError("messages: the last message must come from the user")
    tokens = []
    for user, answer in zip(messages[:-1:2], messages[1::2]):
        text = f"[INST] {user['content'].strip()} [/INST] {answer['content'].strip()} "
        tokens += [bos] + tokenize(text, False, False) + [eos]
    tokens += [bos] + tokenize(f"[INST] {messages[-1]['content'].strip()} [/INST]", False, False)
    return tokens
