"""llamux.Llama against llama.cpp's reference outputs, the command line, and bad input."""

import math
import subprocess
import unittest

from fixtures import LLAMUX_BINARY, fixture, reference
from llamux import GGML_TYPE_Q4_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, Llama, LlamuxError

STORIES = "models/stories260K.gguf"
PROMPT = "Once upon a time"


def load(test, relative=STORIES, **kwargs):
    return Llama(fixture(test, relative), verbose=False, **kwargs)


class ReferenceTest(unittest.TestCase):
    def test_greedy_tokens_and_text_match_llama_cpp(self):
        for name in ["stories260K-F32.once-upon-a-time", "stories260K-F32.lily-and-ben",
                     "stories260K-F32.tom-wanted", "stories260K-F16.once-upon-a-time"]:
            with self.subTest(name):
                ref = reference(self, name)
                llm = load(self, "models/" + ref["model"])
                tokens = llm.tokenize(ref["prompt"].encode())
                self.assertEqual(tokens, ref["prompt_tokens"])
                greedy = []
                for token in llm.generate(tokens, temp=0):
                    if token == llm.token_eos() or len(greedy) == ref["greedy_n"]:
                        break
                    greedy.append(token)
                self.assertEqual(greedy, ref["greedy_tokens"])
                out = llm(ref["prompt"], max_tokens=len(greedy), temperature=0)
                expected = b"".join(llm._engine.token_bytes(t) for t in greedy)
                self.assertEqual(out["choices"][0]["text"], expected.decode(errors="replace"))


class CompletionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = load(cls)

    def greedy(self, prompt=PROMPT, **kwargs):
        return self.llm(prompt, temperature=0, **kwargs)

    def test_response_is_an_openai_completion_dict(self):
        out = self.greedy(max_tokens=8)
        self.assertTrue(out["id"].startswith("cmpl-"))
        self.assertEqual(out["object"], "text_completion")
        self.assertIsInstance(out["created"], int)
        self.assertEqual(out["model"], self.llm.model_path)
        self.assertEqual(len(out["choices"]), 1)
        choice = out["choices"][0]
        self.assertEqual(set(choice), {"text", "index", "logprobs", "finish_reason"})
        self.assertEqual((choice["index"], choice["logprobs"], choice["finish_reason"]), (0, None, "length"))
        self.assertEqual(out["usage"], {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13})
        self.assertEqual(choice["text"], ", there was a little girl")

    def test_stop_strings_end_the_text_before_them(self):
        full = self.greedy(max_tokens=64)["choices"][0]["text"]
        for stop in ["park", ["ball", "Lily"], "ittle gi", "\n"]:
            with self.subTest(stop=stop):
                choice = self.greedy(max_tokens=64, stop=stop)["choices"][0]
                stops = [stop] if isinstance(stop, str) else stop
                cut = min(full.find(s) for s in stops if s in full)
                self.assertEqual(choice["text"], full[:cut])
                self.assertEqual(choice["finish_reason"], "stop")

    def test_stream_chunks_add_up_to_the_same_text(self):
        for kwargs in [dict(max_tokens=40), dict(max_tokens=64, stop=["big, r"]),
                       dict(max_tokens=10, echo=True)]:
            with self.subTest(**kwargs):
                whole = self.greedy(**kwargs)["choices"][0]
                chunks = list(self.greedy(stream=True, **kwargs))
                self.assertTrue(all(c["object"] == "text_completion" for c in chunks))
                self.assertEqual("".join(c["choices"][0]["text"] for c in chunks), whole["text"])
                self.assertEqual([c["choices"][0]["finish_reason"] for c in chunks][-1],
                                 whole["finish_reason"])
                self.assertTrue(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1]))

    def test_echo_puts_the_prompt_first(self):
        self.assertEqual(self.greedy(max_tokens=4, echo=True)["choices"][0]["text"],
                         PROMPT + ", there was a")

    def test_llama_cpp_sampling_arguments_match_the_command_lines_flags(self):
        cases = [(dict(mirostat_mode=2, mirostat_tau=3.0), ["--mirostat", "2", "--mirostat-ent", "3"]),
                 (dict(mirostat_mode=1, mirostat_eta=0.2), ["--mirostat", "1", "--mirostat-lr", "0.2"]),
                 (dict(frequency_penalty=0.5, presence_penalty=0.4, repeat_penalty=1.3),
                  ["--frequency-penalty", "0.5", "--presence-penalty", "0.4", "--repeat-penalty", "1.3"]),
                 (dict(typical_p=0.5), ["--typical", "0.5"]),
                 (dict(logit_bias={"13": 3.0, 2: float("-inf")}), ["-l", "13+3", "-l", "2-inf"]),
                 # llama.cpp's settings beyond llama-cpp-python's, under its server's names.
                 (dict(dry_multiplier=0.8, dry_sequence_breakers=[".", ","]),
                  ["--dry-multiplier", "0.8", "--dry-sequence-breaker", ".", "--dry-sequence-breaker", ","]),
                 (dict(xtc_probability=0.5, xtc_threshold=0.1, min_keep=2),
                  ["--xtc-probability", "0.5", "--xtc-threshold", "0.1", "--min-keep", "2"]),
                 (dict(top_n_sigma=1.5), ["--top-nsigma", "1.5"]),
                 (dict(dynatemp_range=0.5, dynatemp_exponent=2), ["--dynatemp-range", "0.5", "--dynatemp-exp", "2"])]
        for extra, flags in cases:
            with self.subTest(**{k: str(v) for k, v in extra.items()}):
                self.llm.reset()
                text = self.llm(PROMPT, max_tokens=24, temperature=0.8, seed=5, **extra)["choices"][0]["text"]
                cli = subprocess.run([LLAMUX_BINARY, "run", "-m", self.llm.model_path, "-p", PROMPT,
                                      "-n", "24", "-s", "5", "--temp", "0.8", "-t", "1", *flags],
                                     capture_output=True, check=True)
                self.assertEqual(cli.stdout.decode(), PROMPT + text)
        # A bias that bans every token but one makes that token the whole text.
        only = self.llm.tokenize(b"the", add_bos=False)[0]  # "▁the"
        ban = {t: float("-inf") for t in range(self.llm.n_vocab()) if t != only}
        out = self.llm(PROMPT, max_tokens=3, seed=1, logit_bias=ban)["choices"][0]["text"]
        self.assertEqual(out, " the the the")

    def test_bad_sampling_arguments_name_themselves(self):
        cases = [(dict(mirostat_mode=3), "mirostat_mode: expected 0 (off), 1 or 2, got 3"),
                 (dict(logit_bias={"x": 1.0}), "logit_bias: expected token ids 0..511, got 'x'"),
                 (dict(logit_bias={600: 1.0}), "got 600"),
                 (dict(logit_bias=[1, 2]), "logit_bias: expected a dict"),
                 (dict(logit_bias={5: "big"}), "logit_bias[5]: expected a number, got 'big'"),
                 (dict(typical_p="0.5"), "typical_p: expected a number"),
                 (dict(repeat_last_n=-2), "repeat_last_n: expected -1 (all) or a count >= 0"),
                 (dict(dry_allowed_length=1.5), "dry_allowed_length: expected an integer"),
                 (dict(dry_sequence_breakers="\n"), "dry_sequence_breakers: expected a list of strings"),
                 (dict(xtc_probability="high"), "xtc_probability: expected a number")]
        for kwargs, words in cases:
            with self.subTest(**{k: str(v) for k, v in kwargs.items()}):
                with self.assertRaises(ValueError) as e:
                    self.llm(PROMPT, max_tokens=2, **kwargs)
                self.assertIn(words, str(e.exception))

    def test_saved_state_continues_as_the_context_it_came_from(self):
        self.llm.reset()
        prompt = self.llm.tokenize(PROMPT.encode())
        self.llm.eval(prompt)
        state = self.llm.save_state()
        self.assertEqual((state.n_tokens, state.input_ids), (len(prompt), prompt))
        # Both contexts then evaluate only ", there was" after the saved prompt.
        expected = self.llm(PROMPT + ", there was", max_tokens=6, temperature=0)["choices"][0]["text"]
        other = load(self, n_ctx=256)
        other(PROMPT + " in a land far away", max_tokens=4, temperature=0)
        other.load_state(state)
        self.assertEqual(other._engine.n_past, len(prompt))
        self.assertEqual(other._engine.logits(), state.scores[-1])
        self.assertEqual(other(PROMPT + ", there was", max_tokens=6, temperature=0)["choices"][0]["text"], expected)
        with self.assertRaises(ValueError) as e:
            other.load_state(b"raw bytes")
        self.assertIn("state: expected a LlamaState", str(e.exception))
        state.llama_state = state.llama_state[:20]
        with self.assertRaises(ValueError) as e:
            other.load_state(state)
        self.assertIn("session state ends early", str(e.exception))
        self.assertEqual(other._engine.n_past, 0)

    def test_rope_overrides_are_the_command_lines(self):
        stretched = load(self, rope_freq_scale=0.5)
        text = stretched(PROMPT, max_tokens=12, temperature=0)["choices"][0]["text"]
        cli = subprocess.run([LLAMUX_BINARY, "run", "-m", self.llm.model_path, "-p", PROMPT, "-n", "12",
                              "--temp", "0", "--rope-scale", "2"], capture_output=True, check=True)
        self.assertEqual(cli.stdout.decode(), PROMPT + text)
        self.assertNotEqual(text, self.greedy(max_tokens=12)["choices"][0]["text"])
        with self.assertRaises(LlamuxError) as e:
            load(self, rope_freq_base=-1.0)
        self.assertIn("--rope-freq-base: expected a base > 0", str(e.exception))
        with self.assertRaises(ValueError) as e:
            load(self, rope_freq_scale="half")
        self.assertIn("rope_freq_scale: expected a number", str(e.exception))

    def test_cache_type_is_the_command_lines(self):
        f32 = load(self, type_k=0, type_v=0)  # GGML_TYPE_F32
        text = f32(PROMPT, max_tokens=40, temperature=0)["choices"][0]["text"]
        cli = subprocess.run([LLAMUX_BINARY, "run", "-m", self.llm.model_path, "-p", PROMPT, "-n", "40",
                              "--temp", "0", "-ctk", "f32", "-ctv", "f32"], capture_output=True, check=True)
        self.assertEqual(cli.stdout.decode(), PROMPT + text)
        for kwargs, words in [(dict(type_k=12), "type_k: expected one of GGML_TYPE_F32 (0), GGML_TYPE_F16 (1), "
                                                "GGML_TYPE_BF16 (30), GGML_TYPE_Q8_0 (8), GGML_TYPE_Q4_0 (2), "
                                                "GGML_TYPE_Q4_1 (3), GGML_TYPE_Q5_0 (6), GGML_TYPE_Q5_1 (7), got 12"),
                              (dict(type_v=True), "type_v: expected one of")]:
            with self.assertRaises(ValueError) as e:
                load(self, **kwargs)
            self.assertIn(words, str(e.exception))

    def test_quantized_caches_are_the_command_lines(self):
        # The block types need heads of whole 32-value blocks: synth-tiny's are 32 wide, stories260K's 8.
        for type_k, type_v, flags in [(GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, ["-ctk", "q8_0", "-ctv", "q8_0"]),
                                      (GGML_TYPE_Q4_0, GGML_TYPE_Q5_1, ["-ctk", "q4_0", "-ctv", "q5_1"])]:
            llm = load(self, "models/synth/synth-tiny-F32.gguf", type_k=type_k, type_v=type_v)
            text = llm(PROMPT, max_tokens=20, temperature=0)["choices"][0]["text"]
            cli = subprocess.run([LLAMUX_BINARY, "run", "-m", llm.model_path, "-p", PROMPT, "-n", "20", "--temp",
                                  "0", *flags], capture_output=True, check=True)
            self.assertEqual(cli.stdout.decode(errors="replace"), PROMPT + text, flags)
        with self.assertRaises(LlamuxError) as e:
            load(self, type_v=GGML_TYPE_Q8_0)
        self.assertIn("-ctv q8_0: needs a head size that is a multiple of 32", str(e.exception))

    def test_logits_processors_and_stopping_criteria(self):
        try:
            import numpy as np
        except ImportError:
            self.skipTest("numpy is not installed (scripts/setup.sh installs it)")
        from llamux import LogitsProcessorList, StoppingCriteriaList
        only = self.llm.tokenize(b"the", add_bos=False)[0]
        seen = []

        def keep_only(input_ids, scores):
            seen.append((input_ids.dtype, scores.dtype, len(input_ids), len(scores)))
            banned = np.full_like(scores, -np.inf)
            banned[only] = scores[only]
            return banned

        self.llm.reset()
        out = self.llm(PROMPT, max_tokens=3, temperature=0.8, seed=1,
                       logits_processor=LogitsProcessorList([keep_only]))["choices"][0]
        self.assertEqual(out["text"], " the the the")
        prompt = self.llm.tokenize(PROMPT.encode())
        self.assertEqual(seen[0], (np.intc, np.float32, len(prompt), self.llm.n_vocab()))
        self.assertEqual([n for _, _, n, _ in seen], [len(prompt), len(prompt) + 1, len(prompt) + 2])

        # A criterion sees the tokens before the one just drawn and the logits that drew it;
        # True ends the text without that token.
        calls = []

        def after_three(input_ids, logits):
            calls.append(len(input_ids))
            return len(calls) == 4

        greedy = self.llm(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"]
        stopped = self.llm(PROMPT, max_tokens=8, temperature=0,
                           stopping_criteria=StoppingCriteriaList([after_three]))["choices"][0]
        self.assertEqual(stopped["finish_reason"], "stop")
        self.assertEqual(stopped["text"], self.llm.detokenize(
            self.llm.tokenize(PROMPT.encode() + greedy.encode())[len(prompt):len(prompt) + 3]).decode())
        self.assertEqual(calls, [len(prompt), len(prompt) + 1, len(prompt) + 2, len(prompt) + 3])
        with self.assertRaises(ValueError) as e:
            self.llm(PROMPT, logits_processor=[keep_only])
        self.assertIn("logits_processor: expected a callable", str(e.exception))

    def test_prompt_as_token_ids(self):
        ids = self.llm.tokenize(PROMPT.encode())
        self.assertEqual(self.greedy(ids, max_tokens=8)["choices"][0]["text"],
                         self.greedy(max_tokens=8)["choices"][0]["text"])

    def test_seeded_sampling_repeats_and_matches_the_command_line(self):
        # From an empty cache each time: a cached prefix evaluates the rest of the prompt in
        # a smaller batch, which moves logits in their last bits (docs/python.md).
        kwargs = dict(max_tokens=32, temperature=0.8, seed=42)

        def sample(**overrides):
            self.llm.reset()
            return self.llm(PROMPT, **{**kwargs, **overrides})["choices"][0]["text"]
        first = sample()
        self.assertEqual(sample(), first)
        self.assertNotEqual(sample(seed=43), first)
        cli = subprocess.run([LLAMUX_BINARY, "run", "-m", self.llm.model_path, "-p", PROMPT,
                              "-n", "32", "-s", "42", "--temp", "0.8", "-t", "1"],
                             capture_output=True, check=True)
        self.assertEqual(cli.stdout.decode(), PROMPT + first)

    def test_a_cached_prefix_gives_what_a_fresh_context_gives(self):
        fresh = load(self)
        prompts = [PROMPT + ", there was", PROMPT + ", there was", PROMPT, "Lily and Ben",
                   PROMPT + " in a land"]
        for prompt in prompts:
            with self.subTest(prompt=prompt):
                fresh.reset()
                expected = fresh(prompt, max_tokens=12, temperature=0)["choices"][0]["text"]
                self.assertEqual(self.greedy(prompt, max_tokens=12)["choices"][0]["text"], expected)

    def test_no_max_tokens_runs_to_a_full_context(self):
        small = load(self, n_ctx=24)
        out = small(PROMPT, max_tokens=None, temperature=0)
        # As `llamux run`: the token sampled once the cache is full is the last one.
        self.assertEqual(out["usage"]["completion_tokens"], 24 - 5 + 1)
        self.assertEqual(out["choices"][0]["finish_reason"], "length")
        self.assertEqual(small(PROMPT, max_tokens=-1, temperature=0)["usage"], out["usage"])

    def test_tokenize_and_detokenize(self):
        ids = self.llm.tokenize(b"Once upon a time")
        self.assertEqual(ids, [1, 403, 407, 261, 378])
        self.assertEqual(self.llm.tokenize("Once upon a time", add_bos=False), ids[1:])
        self.assertEqual(self.llm.detokenize(ids), b"Once upon a time")
        self.assertEqual(self.llm.tokenize(b"a</s>", add_bos=False, special=True)[-1], self.llm.token_eos())
        self.assertEqual((self.llm.n_vocab(), self.llm.n_ctx()), (512, 512))
        self.assertEqual(self.llm.metadata["general.architecture"], "llama")


def log_softmax(logits):
    top = max(logits)
    norm = top + math.log(sum(math.exp(x - top) for x in logits))
    return [x - norm for x in logits]


class LogprobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = load(cls)

    # The expected rows come from evaluating each prefix in one batch, generation evaluates
    # one token at a time: the summation order differs, so log p agree to ~5e-5, not bits.
    TOLERANCE = 2e-4

    def expected(self, tokens):
        """log p of each next token given the ones before, computed here from the logits."""
        out = []
        for i in range(1, len(tokens)):
            self.llm.reset()
            self.llm.eval(tokens[:i])
            out.append(log_softmax(self.llm._engine.logits()))
        self.llm.reset()
        return out

    def test_generated_tokens_carry_their_log_probabilities_and_alternatives(self):
        out = self.llm(PROMPT, max_tokens=5, temperature=0, logprobs=3)["choices"][0]
        lp = out["logprobs"]
        self.assertEqual(lp["tokens"], [",", " there", " was", " a", " little"])
        self.assertEqual("".join(lp["tokens"]), out["text"])
        # Offsets count from the prompt's start, as llama-cpp-python's and OpenAI's do.
        self.assertEqual(lp["text_offset"], [16, 17, 23, 27, 29])
        ids = self.llm.tokenize(PROMPT + out["text"])
        rows = self.expected(ids)[-5:]
        for i, row in enumerate(rows):
            token = ids[len(ids) - 5 + i]
            self.assertAlmostEqual(lp["token_logprobs"][i], row[token], delta=self.TOLERANCE)
            best = sorted(range(len(row)), key=lambda t: -row[t])[:3]
            top = lp["top_logprobs"][i]
            self.assertEqual(list(top), [self.llm._engine.token_bytes(t).decode() for t in best])
            for t in best:
                self.assertAlmostEqual(top[self.llm._engine.token_bytes(t).decode()], row[t], delta=self.TOLERANCE)

    def test_echo_scores_the_prompt_too(self):
        out = self.llm(PROMPT, max_tokens=2, temperature=0, logprobs=0, echo=True)["choices"][0]
        lp = out["logprobs"]
        self.assertEqual(out["text"], PROMPT + ", there")
        self.assertEqual(lp["tokens"], ["Once", " upon", " a", " time", ",", " there"])
        self.assertEqual(lp["text_offset"], [0, 4, 9, 11, 16, 17])
        ids = self.llm.tokenize(PROMPT + ", there")
        for i, row in enumerate(self.expected(ids)):
            self.assertAlmostEqual(lp["token_logprobs"][i], row[ids[i + 1]], delta=self.TOLERANCE)
            self.assertEqual(len(lp["top_logprobs"][i]), 1)  # logprobs=0: the token itself

    def test_tokens_cut_off_by_a_stop_string_are_left_out(self):
        out = self.llm(PROMPT, max_tokens=30, temperature=0, logprobs=1, stop="girl")["choices"][0]
        self.assertEqual(out["text"], ", there was a little ")
        tokens = out["logprobs"]["tokens"]
        self.assertEqual(tokens[-1], " g")  # its space is the text's last character
        self.assertTrue("".join(tokens).startswith(out["text"]))


class BadInputTest(unittest.TestCase):
    def test_missing_model_names_the_file(self):
        with self.assertRaises(LlamuxError) as e:
            Llama("/nonexistent/model.gguf", verbose=False)
        self.assertIn("/nonexistent/model.gguf", str(e.exception))

    def test_unknown_backend_is_named(self):
        with self.assertRaises(LlamuxError) as e:
            load(self, backend="no-such-backend")
        self.assertIn("no-such-backend", str(e.exception))

    def test_bad_arguments_name_the_parameter_and_value(self):
        path = fixture(self, STORIES)
        for kwargs, words in [(dict(n_ctx=-1), "n_ctx: expected an integer >= 0, got -1"),
                              (dict(n_batch=0), "n_batch"), (dict(n_gpu_layers=-2), "n_gpu_layers"),
                              (dict(n_threads=0), "n_threads"), (dict(n_threads_batch=0), "n_threads_batch"),
                              (dict(seed=2**32), "seed"),
                              (dict(chat_format="alpaca"), "chat_format")]:
            with self.subTest(**kwargs):
                with self.assertRaises(ValueError) as e:
                    Llama(path, verbose=False, **kwargs)
                self.assertIn(words, str(e.exception))

    def test_bad_call_arguments(self):
        llm = load(self, n_ctx=16)
        cases = [(dict(prompt="word " * 40), "do not fit the context of 16"),
                 (dict(prompt=PROMPT, stop=3), "stop: expected"),
                 (dict(prompt=PROMPT, logprobs=-1), "logprobs: expected a count"),
                 (dict(prompt=PROMPT, logprobs=1, stream=True), "logprobs: not available with stream"),
                 (dict(prompt=PROMPT, seed=-5), "seed"),
                 (dict(prompt=3.5), "prompt: expected")]
        for kwargs, words in cases:
            with self.subTest(**{k: v for k, v in kwargs.items() if k != "prompt"}):
                with self.assertRaises(ValueError) as e:
                    llm(**kwargs)
                self.assertIn(words, str(e.exception))
        # The context is still usable after refused calls.
        self.assertEqual(llm(PROMPT, max_tokens=3, temperature=0)["choices"][0]["text"], ", there was")

    def test_prompt_threads_change_no_token(self):
        # llama.cpp's -tb: prompts on 2 threads, generation on 1.
        llm = load(self, n_threads=1, n_threads_batch=2)
        self.assertEqual(llm(PROMPT, max_tokens=3, temperature=0)["choices"][0]["text"], ", there was")

    def test_llama_cpp_python_arguments_at_neutral_values_are_accepted(self):
        llm = load(self, vocab_only=False, flash_attn=False)
        neutral = dict(typical_p=1.0, frequency_penalty=0.0, presence_penalty=0.0, tfs_z=1.0,
                       mirostat_mode=0, grammar=None, logit_bias=None)
        self.assertEqual(llm(PROMPT, max_tokens=3, temperature=0, **neutral)["choices"][0]["text"],
                         ", there was")
        with self.assertRaises(ValueError) as e:
            llm(PROMPT, tfs_z=0.5)
        self.assertIn("tfs_z: not supported by llamux; only 1.0 (no effect) is accepted, got 0.5",
                      str(e.exception))
        with self.assertRaises(ValueError) as e:
            load(self, vocab_only=True)
        self.assertIn("vocab_only: not supported by llamux; only False (no effect) is accepted, got True",
                      str(e.exception))
        with self.assertRaises(TypeError) as e:
            llm.create_chat_completion([{"role": "user", "content": "hi"}], temprature=0)
        self.assertIn("'temprature'", str(e.exception))

    def test_use_mmap_and_use_mlock_load_the_same_model(self):
        # use_mlock may be refused (ulimit -l); the runtime then warns and runs unlocked.
        expected = load(self)(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"]
        for kwargs in [dict(use_mmap=False), dict(use_mlock=True), dict(use_mmap=False, use_mlock=True),
                       dict(use_mmap=True, use_mlock=False)]:
            with self.subTest(**kwargs):
                llm = load(self, **kwargs)
                self.assertEqual(llm(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"], expected)

    def test_gpu_layers_without_a_gpu_run_on_the_cpu(self):
        llm = load(self, n_gpu_layers=99)
        self.assertEqual(llm(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"],
                         ", there was a little girl")


if __name__ == "__main__":
    unittest.main()
