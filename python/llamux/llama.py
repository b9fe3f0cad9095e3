"""Llama: one model and its context, with llama-cpp-python's methods and response dicts.

Not thread-safe: use one Llama per thread. The evaluated tokens stay in the KV cache
between calls, so a prompt that starts like the previous one (a chat that grows, a fixed
instruction prefix) evaluates only what follows the shared part.
"""

import os
import time
import uuid

from . import _llamux, chat_format as chat, compat, processors
from ._plugin_dirs import PLUGIN_DIRS
from .completion_text import CompletionText
from .logprobs import LogprobsRecorder
from .grammar import response_format_grammar
from .sampling import make_sampler, split_extras

DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp's "pick a random seed"

# ggml type ids of llama-cpp-python's type_k / type_v (the KV cache types llamux has).
GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1
GGML_TYPE_Q4_0 = 2
GGML_TYPE_Q4_1 = 3
GGML_TYPE_Q5_0 = 6
GGML_TYPE_Q5_1 = 7
GGML_TYPE_Q8_0 = 8
GGML_TYPE_BF16 = 30
CACHE_TYPES = {"f32": GGML_TYPE_F32, "f16": GGML_TYPE_F16, "bf16": GGML_TYPE_BF16, "q8_0": GGML_TYPE_Q8_0,
               "q4_0": GGML_TYPE_Q4_0, "q4_1": GGML_TYPE_Q4_1, "q5_0": GGML_TYPE_Q5_0, "q5_1": GGML_TYPE_Q5_1}

# llama-cpp-python's pooling_type values (llama_cpp.LLAMA_POOLING_TYPE_*). UNSPECIFIED is the
# model's own choice, which for Llama models is NONE: one embedding per token.
LLAMA_POOLING_TYPE_UNSPECIFIED = -1
LLAMA_POOLING_TYPE_NONE = 0
LLAMA_POOLING_TYPE_MEAN = 1
LLAMA_POOLING_TYPE_CLS = 2
LLAMA_POOLING_TYPE_LAST = 3
_POOLING_NAMES = {-1: "none", 0: "none", 1: "mean", 2: "cls", 3: "last"}


class Llama:
    def __init__(self, model_path, *, n_ctx=512, n_batch=512, n_threads=None, n_threads_batch=None,
                 n_gpu_layers=0, seed=DEFAULT_SEED, backend="cpu", placement=None, plugin_dirs=(),
                 chat_format=None, embedding=False, pooling_type=LLAMA_POOLING_TYPE_UNSPECIFIED,
                 rope_freq_base=0.0, rope_freq_scale=0.0, type_k=None, type_v=None,
                 use_mmap=True, use_mlock=False, verbose=True, **unsupported):
        """Loads the GGUF file and prepares a context of n_ctx tokens (0: the model's
        training context, at most 4096).

        n_gpu_layers puts the last N blocks on the GPU backend (more than the block count:
        the output head too), as llama.cpp's -ngl does; with no usable GPU it warns and runs
        on the CPU. backend names the plugin for everything else; placement is the command
        line's --placement map ("0-15:onednn,16-31:cpu"). n_threads: CPU threads (None: one
        per physical core); n_threads_batch: those of prompts (None: n_threads), llama.cpp's
        -tb. seed: the default seed of every call (DEFAULT_SEED: a random one each call).
        embedding: allow embed() and create_embedding(), with pooling_type one of the
        LLAMA_POOLING_TYPE_* values (UNSPECIFIED: NONE for Llama models, as llama.cpp).
        rope_freq_base, rope_freq_scale: RoPE overrides (0: the model's), as llama.cpp's
        --rope-freq-base and --rope-freq-scale (0.5 stretches positions for twice the context).
        type_k, type_v: the KV cache types of keys and values as ggml type ids (llama.cpp's
        -ctk/-ctv), each one of CACHE_TYPES: GGML_TYPE_F16 (1, the default), GGML_TYPE_F32,
        GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0 or
        GGML_TYPE_Q5_1. The quantized ones need heads of whole 32-value blocks.
        use_mmap: map the file (True) or read it all into memory at load (False, llama.cpp's
        --no-mmap). use_mlock: lock the model in memory (llama.cpp's --mlock); when the system
        refuses (ulimit -l too small) it warns and runs unlocked.
        verbose: show the runtime's warnings on stderr (False: errors only; the setting is
        process-wide, the last Llama made sets it).

        Raises ValueError for a bad argument and LlamuxError for what the runtime refuses (a
        missing or malformed file, an unknown backend), naming the file, flag or value.
        llama-cpp-python's other arguments are accepted at their neutral values (compat.py).
        """
        compat.check("Llama", unsupported, compat.CONSTRUCTOR)
        _check_int("n_ctx", n_ctx, 0)
        _check_int("n_batch", n_batch, 1)
        _check_int("n_gpu_layers", n_gpu_layers, 0)
        for name, value in (("n_threads", n_threads), ("n_threads_batch", n_threads_batch)):
            if value is not None:
                _check_int(name, value, 1)
        self._seed = _check_seed("seed", seed)
        if pooling_type not in _POOLING_NAMES:
            raise ValueError(f"pooling_type: expected one of {sorted(_POOLING_NAMES)} "
                             f"(LLAMA_POOLING_TYPE_*; RANK is not supported), got {pooling_type!r}")
        self._embedding = bool(embedding)
        self._pooling = _POOLING_NAMES[pooling_type]
        self.n_batch = n_batch
        if chat_format is not None and chat_format not in chat.FORMATS:
            raise ValueError(f"chat_format: expected one of {', '.join(chat.FORMATS)} or None, "
                             f"got {chat_format!r}")
        _llamux.set_log_level("warning" if verbose else "error")  # process-wide
        self.model_path = os.fspath(model_path)
        self._engine = _llamux.Engine(
            self.model_path, n_ctx, n_batch, n_threads or 0, backend, n_gpu_layers,
            placement or "", [*(d for d in PLUGIN_DIRS if os.path.isdir(d)), *map(os.fspath, plugin_dirs)],
            _number("rope_freq_base", rope_freq_base), _number("rope_freq_scale", rope_freq_scale),
            *_cache_types(type_k, type_v), bool(use_mmap), bool(use_mlock), n_threads_batch or 0)
        self.metadata = self._engine.metadata()
        self.chat_format = chat_format or self._engine.chat_format()

    # -- the model --------------------------------------------------------------------------
    def n_ctx(self):
        return self._engine.n_ctx

    def n_vocab(self):
        return self._engine.n_vocab

    def n_embd(self):
        return self._engine.n_embd

    def pooling_type(self):
        return {name: value for value, name in _POOLING_NAMES.items() if value >= 0}[self._pooling]

    def token_bos(self):
        return self._engine.bos

    def token_eos(self):
        return self._engine.eos

    def tokenize(self, text, add_bos=True, special=False):
        """Text (bytes or str) to token ids; BOS first when add_bos and the model wants one;
        special: recognise control-token texts such as "</s>"."""
        return self._engine.tokenize(text, bool(add_bos and self._engine.add_bos), bool(special))

    def detokenize(self, tokens):
        """Token ids to bytes, as llama.cpp detokenizes (a leading BOS and its space dropped)."""
        return self._engine.detokenize(list(tokens))

    # -- embeddings -------------------------------------------------------------------------
    def embed(self, input, normalize=False, truncate=True, return_count=False):
        """Embeddings of a text or a list of texts, each evaluated alone from an empty cache
        (the cache is forgotten afterwards): with pooling NONE one list of floats per token,
        else one list per text; normalize: scale each to unit euclidean length. truncate:
        cut texts to n_batch tokens, else a longer text raises ValueError. return_count:
        also return the number of tokens evaluated. As llama-cpp-python's Llama.embed."""
        if not self._embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this method")
        texts = [input] if isinstance(input, str) else list(input)
        n_embd, data, total = self._engine.n_embd, [], 0
        for text in texts:
            if not isinstance(text, str):
                raise ValueError(f"input: expected a string or a list of strings, got {text!r}")
            tokens = self.tokenize(text.encode("utf-8"))
            if truncate:
                tokens = tokens[:self.n_batch]
            if len(tokens) > self.n_batch:
                raise ValueError(f"Requested tokens ({len(tokens)}) exceed batch size of {self.n_batch}")
            total += len(tokens)
            values = self._engine.embed(tokens, self._pooling, 2 if normalize else -1)
            rows = [values[i:i + n_embd] for i in range(0, len(values), n_embd)]
            data.append(rows if self._pooling == "none" else rows[0])
        output = data[0] if isinstance(input, str) else data
        return (output, total) if return_count else output

    def create_embedding(self, input, model=None):
        """llama-cpp-python's embedding response: {"object": "list", "data": [{"object":
        "embedding", "embedding": ..., "index": i}], "model", "usage"}."""
        texts = input if isinstance(input, list) else [input]
        embeds, total = self.embed(texts, return_count=True)
        return {
            "object": "list",
            "data": [{"object": "embedding", "embedding": e, "index": i} for i, e in enumerate(embeds)],
            "model": model if model is not None else self.model_path,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }

    # -- state ------------------------------------------------------------------------------
    def save_state(self):
        """The context's cache (its tokens and their key and value rows) and last logits, as
        llama-cpp-python's save_state: restore it with load_state on a Llama over the same
        model file, to continue from there or to reuse a long prompt's evaluation."""
        return LlamaState(input_ids=list(self._engine.tokens()), scores=[self._engine.logits()],
                          llama_state=self._engine.save_state(), seed=self._seed)

    def load_state(self, state):
        """Puts back a save_state. Raises ValueError for a state of another model file or KV
        cache type, or one longer than this context (the cache is then empty)."""
        if not isinstance(state, LlamaState):
            raise ValueError(f"state: expected a LlamaState from save_state(), got {state!r}")
        try:
            self._engine.load_state(state.llama_state, state.scores[-1] if state.scores else [])
        except _llamux.LlamuxError as e:
            raise ValueError(str(e)) from None
        self._seed = state.seed

    # -- evaluation -------------------------------------------------------------------------
    def reset(self):
        """Forgets the cached tokens (the next prompt is evaluated from the start)."""
        self._engine.rewind(0)

    def eval(self, tokens):
        """Evaluates tokens after the cached ones."""
        tokens = list(tokens)
        if tokens:
            self._engine.eval(tokens)

    def generate(self, tokens, top_k=40, top_p=0.95, min_p=0.05, temp=0.80, repeat_penalty=1.0,
                 reset=True, seed=None, repeat_last_n=64, typical_p=1.0, frequency_penalty=0.0,
                 presence_penalty=0.0, mirostat_mode=0, mirostat_tau=5.0, mirostat_eta=0.1,
                 logit_bias=None, grammar=None, logits_processor=None, stopping_criteria=None,
                 **unsupported):
        """Yields sampled tokens after `tokens` without end (end of text included); stop
        iterating when done. With reset, the cache keeps what `tokens` shares with it.
        The sampling arguments are create_completion's."""
        extras = split_extras(unsupported)
        compat.check("generate", unsupported, compat.SAMPLING)
        tokens = list(tokens)
        if not tokens:
            raise ValueError("tokens: nothing to evaluate")
        sampler = make_sampler(
            self._engine, temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p,
            repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n, seed=self._call_seed(seed),
            typical_p=typical_p, frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
            mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta,
            logit_bias=logit_bias, grammar=grammar, **extras)
        return self._sample(tokens, sampler, reset, hooks=_Hooks(logits_processor, stopping_criteria))

    def _sample(self, tokens, sampler, reset, every_row=False, hooks=None):
        """generate()'s iterator; every_row evaluates all of `tokens` keeping each one's
        logits (for the prompt's log-probabilities) until the first token is sampled. The
        sampler's repeat penalty looks at the cache's tokens. hooks: a _Hooks with the
        caller's logits processor and stopping criteria (hooks.stopped is set when those end
        the iteration)."""
        if every_row:
            self.reset()
            self._engine.eval(tokens, True)
        elif reset:
            self._engine.prefill(tokens)  # keeps the prefix the cache already holds
        else:
            self.eval(tokens)
        while True:
            if hooks is not None and hooks.logits_processor is not None:
                input_ids, scores = processors.arrays(self._engine)
                scores = hooks.logits_processor(input_ids, scores)
                token = sampler.sample_logits(self._engine, list(map(float, scores)))
            else:
                token = sampler.sample(self._engine)
            if hooks is not None and hooks.stopping_criteria is not None:
                if hooks.stopping_criteria(*processors.arrays(self._engine)):
                    hooks.stopped = True
                    return
            yield token
            if self._engine.n_past >= self._engine.n_ctx:
                raise ValueError(f"context full: {self._engine.n_past} tokens (raise n_ctx)")
            self.eval([token])

    # -- completions ------------------------------------------------------------------------
    def __call__(self, prompt, **kwargs):
        return self.create_completion(prompt, **kwargs)

    def create_completion(self, prompt, suffix=None, max_tokens=16, temperature=0.8, top_p=0.95,
                          min_p=0.05, echo=False, stop=None, repeat_penalty=1.0, top_k=40,
                          stream=False, seed=None, logprobs=None, model=None,
                          repeat_last_n=64, typical_p=1.0, frequency_penalty=0.0,
                          presence_penalty=0.0, mirostat_mode=0, mirostat_tau=5.0,
                          mirostat_eta=0.1, logit_bias=None, grammar=None, logits_processor=None,
                          stopping_criteria=None, **unsupported):
        """Completes a prompt (str, bytes or token ids). Returns a "text_completion" dict, or
        with stream=True an iterator of chunk dicts whose texts add up to the same text.

        max_tokens None or <= 0: until end of text or a full context. stop: a string or a
        list; the text ends before the first one generated (finish_reason "stop", as for
        end of text; "length" for max_tokens or a full context). temperature 0 is greedy.
        Sampling is llama.cpp's chain (docs/python.md): logit_bias ({token id: bias}),
        repeat/frequency/presence penalties over the last repeat_last_n tokens, top_k,
        typical_p, top_p, min_p, temperature; mirostat_mode 1 or 2 replaces the chain.
        grammar (a LlamaGrammar) keeps the text in its language; the text ends where the
        grammar allows end of text and the model picks it. llama.cpp's other settings
        (dry_multiplier, xtc_probability, top_n_sigma, ...: sampling.LLAMA_CPP_EXTRAS) are
        taken as extra keywords under the llama.cpp server's names.
        logprobs=N (not with stream): each token's log-probability and the N most likely
        alternatives (logprobs.py), the prompt's tokens too with echo.
        """
        extras = split_extras(unsupported)
        compat.check("create_completion", unsupported, compat.SAMPLING)
        if suffix is not None:
            raise ValueError("suffix: infilling is not supported by Llama 2 models")
        recorder = None
        if logprobs is not None:
            if not isinstance(logprobs, int) or isinstance(logprobs, bool) or logprobs < 0:
                raise ValueError(f"logprobs: expected a count >= 0 of alternatives, got {logprobs!r}")
            if stream:
                raise ValueError("logprobs: not available with stream=True")
            recorder = LogprobsRecorder(self._engine, logprobs)
        prompt_tokens, prompt_text = self._prompt(prompt)
        sampling = dict(temperature=temperature, top_p=top_p, min_p=min_p, top_k=top_k,
                        repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n, seed=seed,
                        typical_p=typical_p, frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty, mirostat_mode=mirostat_mode,
                        mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta, logit_bias=logit_bias,
                        grammar=grammar, **extras)
        head = {"id": f"cmpl-{uuid.uuid4()}", "object": "text_completion",
                "created": int(time.time()), "model": model or self.model_path}
        chunks = self._complete(prompt_tokens, max_tokens, stop, sampling, recorder=recorder,
                                prompt_logprobs=echo and recorder is not None,
                                hooks=_Hooks(logits_processor, stopping_criteria))

        def choice(text, finish_reason, logprobs=None):
            return {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish_reason}

        if stream:
            def stream_chunks():
                if echo:
                    yield {**head, "choices": [choice(prompt_text, None)]}
                for text, finish_reason, _ in chunks:
                    yield {**head, "choices": [choice(text, finish_reason)]}
            return stream_chunks()
        text, finish_reason, usage = _join(chunks)
        text = prompt_text + text if echo else text
        logprobs = recorder and recorder.result(text, 0 if echo else len(prompt_text))
        return {**head, "choices": [choice(text, finish_reason, logprobs)], "usage": usage}

    def create_chat_completion(self, messages, temperature=0.2, top_p=0.95, top_k=40, min_p=0.05,
                               stream=False, stop=None, seed=None, max_tokens=None,
                               repeat_penalty=1.0, model=None, repeat_last_n=64, typical_p=1.0,
                               frequency_penalty=0.0, presence_penalty=0.0, mirostat_mode=0,
                               mirostat_tau=5.0, mirostat_eta=0.1, logit_bias=None, grammar=None,
                               response_format=None, logits_processor=None, stopping_criteria=None,
                               **unsupported):
        """Answers a list of {"role": "system"|"user"|"assistant", "content": str} messages
        in the model's chat format. Returns a "chat.completion" dict, or with stream=True an
        iterator of "chat.completion.chunk" dicts (the role first, then content deltas).
        Sampling arguments as create_completion's. response_format {"type": "json_object"}
        makes the answer a JSON object ("schema": a JSON schema it follows), as does
        {"type": "json_schema", "json_schema": {"schema": ...}}; it replaces grammar."""
        extras = split_extras(unsupported)
        compat.check("create_chat_completion", unsupported, compat.SAMPLING)
        prompt_tokens, format_stops, stop_tokens = chat.prompt(self._engine, self.chat_format, messages)
        stops = list(format_stops) + _stop_list(stop)
        head = {"id": f"chatcmpl-{uuid.uuid4()}", "object": "chat.completion",
                "created": int(time.time()), "model": model or self.model_path}
        sampling = dict(temperature=temperature, top_p=top_p, min_p=min_p, top_k=top_k,
                        repeat_penalty=repeat_penalty, repeat_last_n=repeat_last_n, seed=seed,
                        typical_p=typical_p, frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty, mirostat_mode=mirostat_mode,
                        mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta, logit_bias=logit_bias,
                        grammar=response_format_grammar(response_format) or grammar, **extras)
        chunks = self._complete(prompt_tokens, max_tokens, stops, sampling, stop_tokens=stop_tokens,
                                hooks=_Hooks(logits_processor, stopping_criteria))
        if stream:
            def stream_chunks():
                chunk_head = {**head, "object": "chat.completion.chunk"}
                yield {**chunk_head, "choices": [
                    {"index": 0, "delta": {"role": "assistant"}, "logprobs": None, "finish_reason": None}]}
                leading = True  # the answer's leading whitespace is dropped, as without stream
                for text, finish_reason, _ in chunks:
                    if leading:
                        text = text.lstrip()
                        leading = not text
                    delta = {"content": text} if text else {}
                    if delta or finish_reason:
                        yield {**chunk_head, "choices": [
                            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
            return stream_chunks()
        text, finish_reason, usage = _join(chunks)
        message = {"role": "assistant", "content": text.lstrip()}
        return {**head, "choices": [{"index": 0, "message": message, "logprobs": None,
                                     "finish_reason": finish_reason}], "usage": usage}

    # -- internals --------------------------------------------------------------------------
    def _prompt(self, prompt):
        """(tokens, text) of a prompt given as text or ids."""
        if isinstance(prompt, (str, bytes)):
            text = prompt if isinstance(prompt, str) else prompt.decode("utf-8", errors="replace")
            return self.tokenize(prompt), text
        if isinstance(prompt, (list, tuple)) and all(isinstance(t, int) for t in prompt):
            tokens = list(prompt)
            return tokens, self.detokenize(tokens).decode("utf-8", errors="replace")
        raise ValueError(f"prompt: expected a string, bytes or a list of token ids, got {type(prompt).__name__}")

    def _call_seed(self, seed):
        return self._seed if seed is None else _check_seed("seed", seed)

    def _complete(self, prompt_tokens, max_tokens, stop, sampling, recorder=None,
                  prompt_logprobs=False, stop_tokens=(), hooks=None):
        """Yields (text, finish_reason, usage): text chunks as they become final, the last
        one with finish_reason and usage set. Arguments are checked before the first token.
        recorder (a LogprobsRecorder) gets each generated token, and the prompt's tokens
        too with prompt_logprobs. stop_tokens end the text as end of text does."""
        if not prompt_tokens:
            raise ValueError("prompt: no tokens to evaluate (empty prompt and no BOS)")
        if max_tokens is not None and not isinstance(max_tokens, int):
            raise ValueError(f"max_tokens: expected an integer or None, got {max_tokens!r}")
        if len(prompt_tokens) > self._engine.n_ctx:
            raise ValueError(f"prompt: {len(prompt_tokens)} tokens do not fit the context of "
                             f"{self._engine.n_ctx} (raise n_ctx or shorten the prompt)")
        stops = _stop_list(stop)
        sampling = {**sampling, "seed": self._call_seed(sampling["seed"])}
        sampler = make_sampler(self._engine, **sampling, end_tokens=stop_tokens)
        tokens = self._sample(prompt_tokens, sampler, True, every_row=prompt_logprobs, hooks=hooks)
        return self._completion_chunks(tokens, prompt_tokens, max_tokens, stops, recorder, prompt_logprobs,
                                       {self._engine.eos, *stop_tokens}, hooks)

    def _completion_chunks(self, tokens, prompt_tokens, max_tokens, stops, recorder, prompt_logprobs, ends,
                           hooks=None):
        n_prompt = len(prompt_tokens)
        # As the command line: the token sampled from a full cache is the last one.
        limit = self._engine.n_ctx - n_prompt + 1
        if max_tokens is not None and max_tokens > 0:
            limit = min(limit, max_tokens)
        text = CompletionText(stops)
        finish_reason = "length"
        n_generated = 0
        for token in tokens:
            if prompt_logprobs and n_generated == 0:  # the prompt's rows live until the next eval
                recorder.prompt(prompt_tokens, skip_bos=prompt_tokens[0] == self._engine.bos)
            if recorder is not None and token not in ends:
                recorder.generated(token)
            if token in ends:  # end of text, or a chat format's end-of-turn token
                finish_reason = "stop"
                break
            n_generated += 1
            if text.push(self._engine.token_bytes(token)):
                finish_reason = "stop"
                break
            chunk = text.release()
            if chunk:
                yield chunk, None, None
            if n_generated >= limit:
                break
        else:
            if hooks is not None and hooks.stopped:
                finish_reason = "stop"  # a stopping criterion ended the tokens
        tokens.close()
        text.finish()
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n_generated,
                 "total_tokens": n_prompt + n_generated}
        yield text.release(final=True), finish_reason, usage


class _Hooks:
    """A call's logits processor and stopping criteria (processors.py), checked."""

    def __init__(self, logits_processor, stopping_criteria):
        self.logits_processor = processors.check_callable("logits_processor", logits_processor)
        self.stopping_criteria = processors.check_callable("stopping_criteria", stopping_criteria)
        self.stopped = False


class LlamaState:
    """A saved context (Llama.save_state): input_ids are the cached tokens, scores the last
    logits (one row), llama_state the cache's bytes in llamux's format."""

    def __init__(self, input_ids, scores, llama_state, seed):
        self.input_ids = input_ids
        self.scores = scores
        self.n_tokens = len(input_ids)
        self.llama_state = llama_state
        self.llama_state_size = len(llama_state)
        self.seed = seed


def _join(chunks):
    parts, finish_reason, usage = [], None, None
    for text, finish_reason, usage in chunks:
        parts.append(text)
    return "".join(parts), finish_reason, usage


def _stop_list(stop):
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ValueError(f"stop: expected a string or a list of strings, got {stop!r}")


def _cache_types(type_k, type_v):
    """The KV cache types of keys and values as ggml type ids (None: F16)."""
    types = [GGML_TYPE_F16 if t is None else t for t in (type_k, type_v)]
    for name, t in zip(("type_k", "type_v"), types):
        if t not in CACHE_TYPES.values() or isinstance(t, bool):
            choices = ", ".join(f"GGML_TYPE_{n.upper()} ({i})" for n, i in CACHE_TYPES.items())
            raise ValueError(f"{name}: expected one of {choices}, got {t!r}")
    return types


def _number(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_seed(name, seed):
    if seed == -1:
        return DEFAULT_SEED
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 0xFFFFFFFF:
        raise ValueError(f"{name}: expected -1 (random) or 0..4294967295, got {seed!r}")
    return seed
