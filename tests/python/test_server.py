"""llamux.server: the OpenAI routes over HTTP give what the Llama object gives directly."""

import contextlib
import io
import json
import threading
import unittest
import urllib.error
import urllib.request

from fixtures import fixture
import base64
import struct

from llamux import LLAMA_POOLING_TYPE_MEAN, Llama
from llamux.server import main, make_server

PROMPT = "Once upon a time"
CHAT = [{"role": "user", "content": "Once upon a time"}]


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = Llama(fixture(cls, "models/stories260K.gguf"), embedding=True,
                        pooling_type=LLAMA_POOLING_TYPE_MEAN, verbose=False)  # as main() does
        cls.server = make_server(cls.llm, port=0, model_name="stories")
        cls.server.verbose = False
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.base = "http://127.0.0.1:%d/v1" % cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def request(self, route, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + route, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.headers.get("Content-Type"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()

    def events(self, payload):
        lines = [line for line in payload.decode().split("\n\n") if line]
        self.assertEqual(lines[-1], "data: [DONE]")
        self.assertTrue(all(line.startswith("data: ") for line in lines))
        return [json.loads(line[len("data: "):]) for line in lines[:-1]]

    def test_models_lists_the_served_model(self):
        status, _, body = self.request("/models")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["data"][0]["id"], "stories")

    def test_completion_equals_the_direct_call(self):
        args = dict(max_tokens=12, temperature=0, stop=["girl"])
        status, kind, body = self.request("/completions", {"model": "x", "prompt": PROMPT, **args})
        self.assertEqual((status, kind), (200, "application/json"))
        out = json.loads(body)
        direct = self.llm(PROMPT, **args)
        self.assertEqual(out["object"], "text_completion")
        self.assertEqual(out["model"], "stories")
        self.assertEqual(out["choices"][0]["text"], direct["choices"][0]["text"])
        self.assertEqual(out["choices"][0]["finish_reason"], "stop")
        self.assertEqual(out["usage"], direct["usage"])

    def test_openai_sampling_fields_reach_the_sampler(self):
        # OpenAI sends logit_bias keys as strings; the penalties are llama.cpp's.
        only = self.llm.tokenize(b"the", add_bos=False)[0]
        args = dict(max_tokens=6, temperature=0.8, seed=3, frequency_penalty=0.5,
                    presence_penalty=0.3, logit_bias={str(only): 5.0}, dry_multiplier=0.8,
                    xtc_probability=0.3)
        status, _, body = self.request("/completions", {"prompt": PROMPT, **args})
        self.assertEqual(status, 200, body)
        direct = self.llm(PROMPT, **{**args, "logit_bias": {only: 5.0}})
        self.assertEqual(json.loads(body)["choices"][0]["text"], direct["choices"][0]["text"])
        status, _, body = self.request("/completions", {"prompt": PROMPT, "logit_bias": {"-3": 1}})
        self.assertEqual(status, 400)
        self.assertIn("logit_bias", json.loads(body)["error"]["message"])

    def test_grammar_and_response_format(self):
        grammar = 'root ::= " " ("yes" | "no") "!"'
        status, _, body = self.request("/completions", {"prompt": PROMPT, "temperature": 0, "grammar": grammar})
        self.assertEqual(status, 200, body)
        self.assertIn(json.loads(body)["choices"][0]["text"], (" yes!", " no!"))
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        status, _, body = self.request("/chat/completions", {
            "messages": CHAT, "temperature": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "flag", "schema": schema}}})
        self.assertEqual(status, 200, body)
        self.assertIsInstance(json.loads(json.loads(body)["choices"][0]["message"]["content"])["ok"], bool)
        status, _, body = self.request("/completions", {"prompt": PROMPT, "temperature": 0,
                                                        "json_schema": schema})
        self.assertEqual(status, 200, body)
        self.assertIsInstance(json.loads(json.loads(body)["choices"][0]["text"])["ok"], bool)
        status, _, body = self.request("/completions", {"prompt": PROMPT, "grammar": "root ::= x"})
        self.assertEqual(status, 400)
        self.assertIn("grammar:1:", json.loads(body)["error"]["message"])

    def test_completion_logprobs(self):
        args = dict(prompt=PROMPT, max_tokens=4, temperature=0, logprobs=2)
        out = json.loads(self.request("/completions", args)[2])
        self.assertEqual(out["choices"][0]["logprobs"], self.llm(**args)["choices"][0]["logprobs"])
        status, _, body = self.request("/completions", {**args, "stream": True})
        self.assertEqual(status, 400)
        self.assertIn("logprobs: not available with stream", json.loads(body)["error"]["message"])

    def test_streamed_completion_adds_up(self):
        args = dict(prompt=[PROMPT], max_tokens=20, temperature=0, n=1, logprobs=None)
        status, kind, body = self.request("/completions", {**args, "stream": True})
        self.assertEqual((status, kind), (200, "text/event-stream"))
        chunks = self.events(body)
        whole = json.loads(self.request("/completions", args)[2])
        self.assertEqual("".join(c["choices"][0]["text"] for c in chunks), whole["choices"][0]["text"])
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "length")

    def test_chat_completion_and_its_stream(self):
        args = dict(messages=CHAT, max_completion_tokens=10, temperature=0)
        status, _, body = self.request("/chat/completions", args)
        self.assertEqual(status, 200)
        message = json.loads(body)["choices"][0]["message"]
        self.assertEqual(message["content"],
                         self.llm.create_chat_completion(CHAT, max_tokens=10, temperature=0)
                         ["choices"][0]["message"]["content"])
        chunks = self.events(self.request("/chat/completions", {**args, "stream": True})[2])
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant"})
        self.assertEqual("".join(c["choices"][0]["delta"].get("content", "") for c in chunks),
                         message["content"])

    def test_bad_requests_get_400_naming_the_field(self):
        cases = [({"prompt": PROMPT, "n": 2}, "n: not supported"),
                 ({"prompt": PROMPT, "temprature": 0}, "temprature: unknown field"),
                 ({"max_tokens": 3}, "prompt: required"),
                 ({"prompt": PROMPT, "stop": 7}, "stop: expected"),
                 ({"prompt": "word " * 600}, "do not fit the context of 512"),
                 ({"prompt": [PROMPT, PROMPT]}, "one prompt per request")]
        for body, words in cases:
            with self.subTest(words=words):
                status, _, payload = self.request("/completions", body)
                self.assertEqual(status, 400)
                self.assertIn(words, json.loads(payload)["error"]["message"])
        status, _, payload = self.request("/chat/completions", raw=b"{not json")
        self.assertEqual(status, 400)
        status, _, payload = self.request("/chat/completions", {"messages": [{"role": "robot", "content": ""}]})
        self.assertEqual(status, 400)
        self.assertIn("messages[0]: role", json.loads(payload)["error"]["message"])
        self.assertEqual(self.request("/audio/speech", {"input": "x"})[0], 404)
        status, _, payload = self.request("/embeddings", {"input": [1, 2]})
        self.assertEqual(status, 400)
        self.assertIn("input: expected a string", json.loads(payload)["error"]["message"])

    def test_embeddings_as_floats_and_base64(self):
        expected = self.llm.create_embedding(["Once upon a time", "Tom wanted"], model="stories")
        status, _, payload = self.request("/embeddings", {"input": ["Once upon a time", "Tom wanted"]})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(payload), json.loads(json.dumps(expected)))
        status, _, payload = self.request("/embeddings", {"input": "Tom wanted", "encoding_format": "base64"})
        raw = base64.b64decode(json.loads(payload)["data"][0]["embedding"])
        floats = struct.unpack(f"<{len(raw) // 4}f", raw)
        self.assertLess(max(abs(a - b) for a, b in zip(floats, expected["data"][1]["embedding"])), 1e-6)

    def test_the_openai_client_works_against_it(self):
        try:
            import openai
        except ImportError:
            self.skipTest("the openai package is not installed (optional peer)")
        client = openai.OpenAI(base_url=self.base, api_key="none")
        out = client.completions.create(model="stories", prompt=PROMPT, max_tokens=8, temperature=0)
        self.assertEqual(out.choices[0].text, self.llm(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"])
        stream = client.chat.completions.create(model="stories", messages=CHAT, max_tokens=8,
                                                temperature=0, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        self.assertEqual(text, self.llm.create_chat_completion(CHAT, max_tokens=8, temperature=0)
                         ["choices"][0]["message"]["content"])
        embedded = client.embeddings.create(model="stories", input=PROMPT)  # asks for base64
        direct = self.llm.embed(PROMPT)
        self.assertEqual(len(embedded.data[0].embedding), len(direct))
        self.assertLess(max(abs(a - b) for a, b in zip(embedded.data[0].embedding, direct)), 1e-6)


class CommandLineTest(unittest.TestCase):
    def test_bad_flags_and_files_are_refused(self):
        model = fixture(self, "models/stories260K.gguf")
        with contextlib.redirect_stderr(io.StringIO()) as err:
            with self.assertRaises(SystemExit):
                main(["-m", model, "-ctk", "iq4_nl"])
            self.assertEqual(main(["-m", model + ".missing"]), 1)
            self.assertEqual(main(["-m", model + ".missing", "--no-mmap", "--mlock"]), 1)
            self.assertEqual(main(["-m", model, "-ctk", "q4_0"]), 1)
            self.assertEqual(main(["-m", model, "--rope-freq-base", "-1"]), 1)
        self.assertIn("invalid choice: 'iq4_nl'", err.getvalue())
        self.assertIn("stories260K.gguf.missing", err.getvalue())
        self.assertIn("-ctk q4_0: needs a head size that is a multiple of 32", err.getvalue())
        self.assertIn("--rope-freq-base: expected a base > 0", err.getvalue())


if __name__ == "__main__":
    unittest.main()
