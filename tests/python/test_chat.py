"""Chat completions as OpenAI-style dicts, over the runtime's chat layouts (whose token
layouts tests/unit/test_chat.cpp checks), and the Python side's message checks."""

import unittest

from fixtures import fixture
from llamux import Llama

MESSAGES = [{"role": "system", "content": "Tell a story."},
            {"role": "user", "content": "Once upon a time"}]


class ChatCompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = Llama(fixture(cls, "models/stories260K.gguf"), verbose=False)

    def test_format_comes_from_the_file_or_the_argument(self):
        self.assertEqual(self.llm.chat_format, "llama-2")  # the file names no template
        other = Llama(self.llm.model_path, verbose=False, chat_format="chatml")
        self.assertEqual(other.chat_format, "chatml")

    def test_response_is_an_openai_chat_completion_dict(self):
        out = self.llm.create_chat_completion(MESSAGES, max_tokens=12, temperature=0)
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
        whole = self.llm.create_chat_completion(MESSAGES, **kwargs)["choices"][0]
        chunks = list(self.llm.create_chat_completion(MESSAGES, stream=True, **kwargs))
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks))
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant"})
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:])
        self.assertEqual(content, whole["message"]["content"])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], whole["finish_reason"])

    def test_malformed_messages_are_named(self):
        cases = [([], "non-empty list"),
                 ([{"content": "x"}], "messages[0]: expected a dict"),
                 ([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}],
                  "messages[1]: role must be one of system, user, assistant, got 'robot'"),
                 ([{"role": "user", "content": 5}], "messages[0]: content must be a string"),
                 ([{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                   {"role": "user", "content": "v"}], "messages[2] is 'user'"),
                 ([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
                  "last message must come from the user")]
        for messages, words in cases:
            with self.subTest(words=words):
                with self.assertRaises(ValueError) as e:
                    self.llm.create_chat_completion(messages, max_tokens=1)
                self.assertIn(words, str(e.exception))


if __name__ == "__main__":
    unittest.main()
