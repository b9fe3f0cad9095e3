"""Llama.embed / create_embedding: llama-cpp-python's shapes and dicts, the values of the
runtime's embeddings (the same numbers `llamux embedding` prints), and its errors."""

import math
import subprocess
import unittest

from fixtures import LLAMUX_BINARY, fixture
from llamux import LLAMA_POOLING_TYPE_LAST, LLAMA_POOLING_TYPE_MEAN, Llama

TEXTS = ["Once upon a time", "Tom wanted"]


class EmbeddingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = fixture(cls, "models/stories260K.gguf")
        cls.tokens = Llama(cls.path, embedding=True, verbose=False)
        cls.mean = Llama(cls.path, embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN, verbose=False)

    def test_token_embeddings_by_default(self):
        rows = self.tokens.embed(TEXTS[0])
        self.assertEqual(len(rows), len(self.tokens.tokenize(TEXTS[0].encode())))
        self.assertTrue(all(len(r) == self.tokens.n_embd() for r in rows))
        unit = self.tokens.embed(TEXTS[0], normalize=True)
        for row, scaled in zip(rows, unit):
            norm = math.sqrt(sum(x * x for x in row))
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in scaled)), 1.0, places=5)
            self.assertAlmostEqual(scaled[0], row[0] / norm, places=6)
        self.assertEqual(self.tokens.pooling_type(), 0)

    def test_create_embedding_dict(self):
        out = self.mean.create_embedding(TEXTS)
        self.assertEqual(sorted(out), ["data", "model", "object", "usage"])
        self.assertEqual(out["object"], "list")
        self.assertEqual(out["model"], self.path)
        self.assertEqual([d["index"] for d in out["data"]], [0, 1])
        self.assertEqual(out["data"][0]["object"], "embedding")
        n_tokens = sum(len(self.mean.tokenize(t.encode())) for t in TEXTS)
        self.assertEqual(out["usage"], {"prompt_tokens": n_tokens, "total_tokens": n_tokens})
        self.assertEqual(out["data"][1]["embedding"], self.mean.embed(TEXTS[1]))

    def test_values_are_the_command_lines(self):
        embd = self.mean.embed(TEXTS[0], normalize=True)
        cli = subprocess.run([LLAMUX_BINARY, "embedding", "-m", self.path, "-p", TEXTS[0], "--pooling",
                              "mean", "--embd-output-format", "array"], capture_output=True, text=True,
                             check=True)
        values = [float(x) for x in cli.stdout.strip().strip("[]").split(",")]
        self.assertEqual(len(values), len(embd))
        self.assertLess(max(abs(a - b) for a, b in zip(embd, values)), 1e-6)

    def test_last_pooling_and_the_cache_left_empty(self):
        llm = Llama(self.path, embedding=True, pooling_type=LLAMA_POOLING_TYPE_LAST, verbose=False)
        llm("Once", max_tokens=2, temperature=0)
        last = llm.embed(TEXTS[0])
        self.assertEqual(last, self.tokens.embed(TEXTS[0])[-1])
        self.assertEqual(llm._engine.n_past, 0)  # embeddings start and end with an empty cache

    def test_errors(self):
        with self.assertRaisesRegex(RuntimeError, "embedding=True"):
            Llama(self.path, verbose=False).embed("x")
        with self.assertRaisesRegex(ValueError, "pooling_type"):
            Llama(self.path, embedding=True, pooling_type=4, verbose=False)
        with self.assertRaisesRegex(ValueError, "exceed batch size of 4"):
            Llama(self.path, embedding=True, n_batch=4, verbose=False).embed(TEXTS[0], truncate=False)
        cut = Llama(self.path, embedding=True, n_batch=4, verbose=False).embed(TEXTS[0])
        self.assertEqual(len(cut), 4)


if __name__ == "__main__":
    unittest.main()
