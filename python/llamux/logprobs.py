"""The "logprobs" object of a text completion (OpenAI's legacy completions format, as
llama-cpp-python fills it): for each token of the returned text, its text, its character
offset in that text, its log-probability under the model and the most likely alternatives.

Log-probabilities come from the raw logits (before sampling penalties). A token split
inside a UTF-8 character counts from the character's start.
"""


class LogprobsRecorder:
    def __init__(self, engine, n_top):
        self._engine = engine
        self._n_top = n_top
        self._entries = []  # (token bytes, logprob or None, top dict or None)

    def prompt(self, tokens, skip_bos):
        """Records the prompt's tokens from the rows of an eval(every_row=True) of them:
        row i predicts token i + 1. The first token has no log-probability; a BOS first is
        left out, as it has no text."""
        for i, token in enumerate(tokens):
            if i == 0 and skip_bos:
                continue
            if i == 0:
                self._entries.append((self._engine.token_bytes(token), None, None))
            else:
                self._record(i - 1, token)

    def generated(self, token):
        """Records a token sampled from the current (last) logits."""
        self._record(-1, token)

    def result(self, text, base_offset=0):
        """The logprobs object for the returned `text`: tokens past its end (cut off by a
        stop string) are left out. When the text does not start with the first token's
        leading space (the one detokenizing drops after BOS), neither does that token.
        Offsets count from base_offset: the prompt's length when the text does not repeat
        it, as llama-cpp-python and OpenAI's legacy completions count."""
        out = {"tokens": [], "text_offset": [], "token_logprobs": [], "top_logprobs": []}
        consumed = b""
        for i, (data, logprob, top) in enumerate(self._entries):
            if i == 0 and data.startswith(b" ") and not text.startswith(" "):
                data = data[1:]
            offset = len(consumed.decode("utf-8", errors="ignore"))
            if offset >= len(text) and data:
                break
            consumed += data
            out["tokens"].append(data.decode("utf-8", errors="replace"))
            out["text_offset"].append(base_offset + offset)
            out["token_logprobs"].append(logprob)
            out["top_logprobs"].append(top)
        return out

    def _record(self, row, token):
        logprob, top = self._engine.logprobs(row, token, self._n_top)
        texts = {self._text(t): lp for t, lp in top}
        texts.setdefault(self._text(token), logprob)
        self._entries.append((self._engine.token_bytes(token), logprob, texts))

    def _text(self, token):
        return self._engine.token_bytes(token).decode("utf-8", errors="replace")
