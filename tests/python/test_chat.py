"""Chat prompts in each format, and chat completions as OpenAI-style dicts."""

import unittest

from fixtures import fixture
from llamux import Llama, chat_format

BOS, EOS = 1, 2


def fake_tokenize(text, add_bos, special):
    """A stand-in tokenizer that keeps the text visible: one 'token' per call."""
    return ([BOS] if add_bos else []) + [("special" if special else "text", text)]


class ChatFormatTest(unittest.TestCase):
    def test_llama2_follows_meta_reference_layout(self):
        messages = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": " Hi "},
                    {"role": "assistant", "content": "Hello! "},
                    {"role": "user", "content": "Why is the sky blue?"}]
        tokens, stops = chat_format.prompt_tokens("llama-2", messages, fake_tokenize, BOS, EOS)
        self.assertEqual(tokens, [
            BOS, ("text", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi [/INST] Hello! "), EOS,
            BOS, ("text", "[INST] Why is the sky blue? [/INST]")])
        self.assertEqual(stops, [])
        tokens, _ = chat_format.prompt_tokens("llama-2", messages[1:2], fake_tokenize, BOS, EOS)
        self.assertEqual(tokens, [BOS, ("text", "[INST] Hi [/INST]")])

    def test_zephyr_and_chatml_are_text_with_special_tokens(self):
        messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
        tokens, stops = chat_format.prompt_tokens("zephyr", messages, fake_tokenize, BOS, EOS)
        self.assertEqual(tokens, [BOS, ("special", "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n")])
        self.assertEqual(stops, [])
        tokens, stops = chat_format.prompt_tokens("chatml", messages, fake_tokenize, BOS, EOS)
        self.assertEqual(tokens, [BOS, ("special", "<|im_start|>system\nS<|im_end|>\n"
                                                   "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")])
        self.assertEqual(stops, ["<|im_end|>"])

    def test_format_is_detected_from_the_gguf_template(self):
        self.assertEqual(chat_format.detect({}), "llama-2")
        self.assertEqual(chat_format.detect({"tokenizer.chat_template": "{{ '[INST] ' + m }}"}), "llama-2")
        self.assertEqual(chat_format.detect({"tokenizer.chat_template": "<|user|>\n ... <|assistant|>"}), "zephyr")
        self.assertEqual(chat_format.detect({"tokenizer.chat_template": "<|im_start|>"}), "chatml")

    def test_malformed_messages_are_named(self):
        cases = [([], "non-empty list"),
                 ([{"content": "x"}], "messages[0]: expected a dict"),
                 ([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}], "messages[1]: role"),
                 ([{"role": "user", "content": 5}], "messages[0]: content must be a string"),
                 ([{"role": "system", "content": "s"}], "messages[1]: llama-2 chat needs a user"),
                 ([{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                   {"role": "user", "content": "v"}], "messages[2] is 'user'"),
                 ([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
                  "last message must come from the user")]
        for messages, words in cases:
            with self.subTest(words=words):
                with self.assertRaises(ValueError) as e:
                    chat_format.prompt_tokens("llama-2", messages, fake_tokenize, BOS, EOS)
                self.assertIn(words, str(e.exception))


class ChatCompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = Llama(fixture(cls, "models/stories260K.gguf"), verbose=False)

    MESSAGES = [{"role": "system", "content": "Tell a story."},
                {"role": "user", "content": "Once upon a time"}]

    def test_response_is_an_openai_chat_completion_dict(self):
        out = self.llm.create_chat_completion(self.MESSAGES, max_tokens=12, temperature=0)
        self.assertTrue(out["id"].startswith("chatcmpl-"))
        self.assertEqual(out["object"], "chat.completion")
        choice = out["choices"][0]
        self.assertEqual(choice["message"]["role"], "assistant")
        self.assertIsInstance(choice["message"]["content"], str)
        self.assertEqual(choice["message"]["content"], choice["message"]["content"].lstrip())
        self.assertEqual(choice["finish_reason"], "length")
        self.assertEqual(out["usage"]["completion_tokens"], 12)
        # The prompt is Meta's layout, tokenized with the model's own tokenizer.
        expected = [1] + self.llm.tokenize(
            "[INST] <<SYS>>\nTell a story.\n<</SYS>>\n\nOnce upon a time [/INST]", add_bos=False)
        self.assertEqual(out["usage"]["prompt_tokens"], len(expected))

    def test_stream_gives_the_role_then_content_adding_up_to_the_message(self):
        kwargs = dict(max_tokens=20, temperature=0, stop=["\n"])
        whole = self.llm.create_chat_completion(self.MESSAGES, **kwargs)["choices"][0]
        chunks = list(self.llm.create_chat_completion(self.MESSAGES, stream=True, **kwargs))
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant"})
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:])
        self.assertEqual(content, whole["message"]["content"])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], whole["finish_reason"])


if __name__ == "__main__":
    unittest.main()
