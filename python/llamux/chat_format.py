"""Chat messages (OpenAI-style dicts) to prompt tokens. The layouts themselves ("llama-2",
"zephyr", "chatml") are the runtime's (runtime/include/llamux/chat.hpp), shared with
`llamux chat`; this module checks the Python side of the input."""

from . import _llamux

FORMATS = tuple(_llamux.chat_formats())  # "llama-2", "zephyr", "chatml"


def check_messages(messages):
    """Raises ValueError naming the first malformed message."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("messages: expected a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"messages[{i}]: expected a dict with 'role' and 'content', got {m!r}")
        if not isinstance(m["role"], str):
            raise ValueError(f"messages[{i}]: role must be a string, got {m['role']!r}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}]: content must be a string, got {m.get('content')!r}")


def prompt(engine, chat_format, messages):
    """(tokens, stop texts, stop tokens) of the prompt for the assistant's next answer.
    Raises ValueError for messages the format cannot express (the runtime names them)."""
    check_messages(messages)
    try:
        return engine.chat_prompt(chat_format, [(m["role"], m["content"]) for m in messages])
    except RuntimeError as e:  # LlamuxError: a role or an order the format refuses
        raise ValueError(str(e)) from None
