"""Grammars from Python: LlamaGrammar (GBNF text, files, JSON schemas), completions and
chat answers held to them, and OpenAI's response_format."""

import json
import os
import subprocess
import tempfile
import unittest

from fixtures import LLAMUX_BINARY, fixture
from llamux import Llama, LlamaGrammar

PROMPT = "Once upon a time"
SENTENCE = 'root ::= " " [A-Z] [a-z]+ (" " [a-z]+){3,6} "."'
FLAG = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


class GrammarTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = Llama(fixture(cls, "models/stories260K.gguf"), n_ctx=256, verbose=False)

    def complete(self, grammar, **kwargs):
        self.llm.reset()
        return self.llm(PROMPT, grammar=grammar, max_tokens=60, **kwargs)["choices"][0]

    def test_completions_follow_the_grammar_as_llama_cpp_main(self):
        # llama.cpp c392e50's main on the same file and grammar (see test_grammar_sampling.cpp).
        grammar = LlamaGrammar.from_string(SENTENCE)
        greedy = self.complete(grammar, temperature=0)
        self.assertEqual(greedy["text"], " Anna and her mommy went to theirthday.")
        self.assertEqual(greedy["finish_reason"], "stop")
        self.assertEqual(self.complete(grammar, temperature=0.8, seed=42)["text"],
                         " Lucy and her mommy went to them.")
        cli = subprocess.run([LLAMUX_BINARY, "run", "-m", self.llm.model_path, "-p", PROMPT, "-n", "60",
                              "-s", "7", "--temp", "1.2", "--grammar", SENTENCE, "-t", "1"],
                             capture_output=True, check=True)
        self.assertEqual(PROMPT + self.complete(grammar, temperature=1.2, seed=7)["text"], cli.stdout.decode())
        streamed = "".join(c["choices"][0]["text"] for c in self.llm(PROMPT, grammar=grammar, temperature=0,
                                                                      max_tokens=60, stream=True))
        self.assertEqual(streamed, greedy["text"])

    def test_grammar_from_a_file_and_from_a_schema(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "answer.gbnf")
            with open(path, "w") as f:
                f.write('root ::= " " ("yes" | "no") "."\n')
            self.assertIn(self.complete(LlamaGrammar.from_file(path), temperature=0)["text"], (" yes.", " no."))
        for schema in (FLAG, json.dumps(FLAG)):
            text = self.complete(LlamaGrammar.from_json_schema(schema), temperature=0)["text"]
            self.assertIsInstance(json.loads(text)["ok"], bool)

    def test_chat_response_format(self):
        chat = [{"role": "user", "content": "Is the sky blue?"}]
        for response_format in ({"type": "json_object", "schema": FLAG},
                                {"type": "json_schema", "json_schema": {"name": "flag", "schema": FLAG}}):
            with self.subTest(kind=response_format["type"]):
                out = self.llm.create_chat_completion(chat, temperature=0, response_format=response_format)
                self.assertIsInstance(json.loads(out["choices"][0]["message"]["content"])["ok"], bool)
        out = self.llm.create_chat_completion(chat, temperature=0, max_tokens=40,
                                              response_format={"type": "json_object"})
        self.assertTrue(out["choices"][0]["message"]["content"].startswith("{"))
        plain = self.llm.create_chat_completion(chat, temperature=0, max_tokens=8, response_format={"type": "text"})
        self.assertEqual(plain["choices"][0]["message"]["content"],
                         self.llm.create_chat_completion(chat, temperature=0, max_tokens=8)["choices"][0]["message"]["content"])

    def test_bad_grammars_raise_value_error_naming_the_place(self):
        cases = [(lambda: LlamaGrammar.from_string('root ::= "a" | b'), "grammar:1:"),
                 (lambda: LlamaGrammar.from_string(3), "grammar: expected GBNF text"),
                 (lambda: LlamaGrammar.from_file("/nonexistent/x.gbnf"), "/nonexistent/x.gbnf"),
                 (lambda: LlamaGrammar.from_json_schema('{"type": "strange"}'), "json_schema"),
                 (lambda: LlamaGrammar.from_json_schema("{not json"), "json_schema"),
                 (lambda: self.llm(PROMPT, grammar='root ::= "a"'), "grammar: expected a LlamaGrammar"),
                 (lambda: self.llm.create_chat_completion([{"role": "user", "content": "x"}],
                                                          response_format={"type": "xml"}),
                  "response_format: expected")]
        for make, words in cases:
            with self.subTest(words=words):
                with self.assertRaises(ValueError) as e:
                    make()
                self.assertIn(words, str(e.exception))


if __name__ == "__main__":
    unittest.main()
