"""An OpenAI-compatible HTTP server over one Llama, for the `openai` client and the tools
built on it:

    python3 -m llamux.server -m llama-2-7b-chat.Q4_0.gguf -c 2048 -ngl 20 --port 8000

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none")
    client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "Hi"}])

Routes: GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST
/v1/embeddings (pooled with --pooling, mean by default); "stream": true answers with
server-sent events ("data: {chunk}" lines, then "data: [DONE]"). Requests are
served one at a time (one model, one context); others wait. Bad requests get status 400 and
OpenAI's error body naming the field, before any of the answer is sent; an error after a
stream has begun arrives as an "error" event before "data: [DONE]". Standard library only.
"""

import argparse
import array
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import LlamuxError
from .grammar import LlamaGrammar
from .llama import CACHE_TYPES, LLAMA_POOLING_TYPE_CLS, LLAMA_POOLING_TYPE_LAST, LLAMA_POOLING_TYPE_MEAN, Llama
from .sampling import LLAMA_CPP_EXTRAS

# Request fields passed to Llama, by route; others that OpenAI clients send are checked by
# Llama's compatibility table or, when OpenAI-only, below.
# "grammar" is GBNF text (llama-cpp-python's server field), "json_schema" a schema (the
# llama.cpp server's), "response_format" OpenAI's; the llama.cpp server's dry_*, xtc_*,
# top_n_sigma, ... fields too.
SAMPLING_FIELDS = ("temperature", "top_p", "min_p", "top_k", "repeat_penalty", "repeat_last_n",
                   "seed", "frequency_penalty", "presence_penalty", "typical_p", "logit_bias",
                   "mirostat_mode", "mirostat_tau", "mirostat_eta", "grammar", "json_schema",
                   *LLAMA_CPP_EXTRAS)
COMPLETION_FIELDS = ("prompt", "max_tokens", "echo", "stop", "stream", "logprobs", "suffix",
                     *SAMPLING_FIELDS)
CHAT_FIELDS = ("messages", "max_tokens", "stop", "stream", "response_format", *SAMPLING_FIELDS)
# OpenAI fields with no counterpart here: accepted at the value that asks for nothing.
OPENAI_NEUTRAL = {"n": 1, "user": None, "best_of": 1, "logprobs": False, "top_logprobs": None,
                  "stream_options": None, "tools": None, "tool_choice": None,
                  "parallel_tool_calls": None}


POOLING = {"mean": LLAMA_POOLING_TYPE_MEAN, "cls": LLAMA_POOLING_TYPE_CLS,
           "last": LLAMA_POOLING_TYPE_LAST}


class RequestError(ValueError):
    pass


def embeddings_response(llm, body, model_name):
    """OpenAI's /v1/embeddings answer: one pooled vector per input text, as floats or, with
    "encoding_format": "base64", as little-endian float32 bytes in base64 (what the openai
    client asks for by default)."""
    if not isinstance(body, dict):
        raise RequestError("request body: expected a JSON object")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise RequestError("input: expected a string or a non-empty list of strings "
                           "(token-id inputs are not supported)")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise RequestError(f"encoding_format: expected 'float' or 'base64', got {encoding!r}")
    for name in body:
        if name not in ("input", "model", "encoding_format", "user", "dimensions"):
            raise RequestError(f"{name}: not supported by this server")
    if body.get("dimensions") is not None:
        raise RequestError("dimensions: not supported (the model's embedding size is fixed)")
    result = llm.create_embedding(texts, model=model_name)
    if encoding == "base64":
        for item in result["data"]:
            item["embedding"] = base64.b64encode(array.array("f", item["embedding"]).tobytes()).decode()
    return result


def request_arguments(body, fields, required):
    """Llama keyword arguments from a request body; RequestError for what cannot be served."""
    if not isinstance(body, dict):
        raise RequestError("request body: expected a JSON object")
    if required not in body:
        raise RequestError(f"{required}: required")
    body = dict(body)
    body.pop("model", None)  # one model is served, whatever the client names
    if "max_completion_tokens" in body:  # the newer OpenAI name
        body["max_tokens"] = body.pop("max_completion_tokens")
    kwargs = {}
    for name, value in body.items():
        if name in fields:
            kwargs[name] = value
        elif name in OPENAI_NEUTRAL:
            if value not in (OPENAI_NEUTRAL[name], None):
                raise RequestError(f"{name}: not supported by llamux; got {value!r}")
        else:
            raise RequestError(f"{name}: unknown field")
    if "grammar" in kwargs:
        kwargs["grammar"] = LlamaGrammar.from_string(kwargs["grammar"]) if kwargs["grammar"] else None
    schema = kwargs.pop("json_schema", None)
    if schema is not None:
        if kwargs.get("grammar") is not None:
            raise RequestError("grammar and json_schema: give only one")
        kwargs["grammar"] = LlamaGrammar.from_json_schema(schema)
    if kwargs.get("logprobs") is False:
        kwargs["logprobs"] = None
    if isinstance(kwargs.get("prompt"), list) and kwargs["prompt"] and isinstance(kwargs["prompt"][0], str):
        if len(kwargs["prompt"]) != 1:
            raise RequestError("prompt: one prompt per request (a list of one string, or a string)")
        kwargs["prompt"] = kwargs["prompt"][0]
    return kwargs


def make_server(llm, host="127.0.0.1", port=8000, model_name="llama"):
    """A ThreadingHTTPServer bound to (host, port) serving `llm`; port 0 picks a free one
    (server.server_address tells which). The caller runs serve_forever() and shutdown()."""
    lock = threading.Lock()
    created = int(time.time())

    class Handler(BaseHTTPRequestHandler):
        server_version = "llamux"

        def log_message(self, format, *args):  # one line per request on stderr, as usual
            if self.server.verbose:
                super().log_message(format, *args)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [
                    {"id": model_name, "object": "model", "created": created, "owned_by": "llamux"}]})
            else:
                self._error(404, f"{self.path}: no such route", "not_found_error")

        def do_POST(self):
            route = self.path.rstrip("/")
            if route == "/v1/completions":
                call, fields, required = llm.create_completion, COMPLETION_FIELDS, "prompt"
            elif route == "/v1/chat/completions":
                call, fields, required = llm.create_chat_completion, CHAT_FIELDS, "messages"
            elif route == "/v1/embeddings":
                self._embeddings()
                return
            else:
                self._error(404, f"{self.path}: no such route", "not_found_error")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                kwargs = request_arguments(body, fields, required)
            except (ValueError, RequestError) as e:  # JSONDecodeError is a ValueError
                self._error(400, str(e))
                return
            with lock:
                self._answer(call, kwargs)

        def _embeddings(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with lock:
                    result = embeddings_response(llm, body, model_name)
            except (ValueError, RequestError, RuntimeError) as e:  # RuntimeError: no embedding=True
                self._error(400, str(e))
                return
            except LlamuxError as e:
                self._error(500, str(e), "server_error")
                return
            self._json(200, result)

        def _answer(self, call, kwargs):
            stream = bool(kwargs.get("stream"))
            try:
                result = call(model=model_name, **kwargs)
                # A stream's first chunk is computed before any byte is sent, so that errors
                # in the prompt still get a 400.
                first = next(result) if stream else None
            except (ValueError, TypeError) as e:
                self._error(400, str(e))
                return
            except LlamuxError as e:
                self._error(500, str(e), "server_error")
                return
            if not stream:
                self._json(200, result)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                self._event(first)
                try:
                    for chunk in result:
                        self._event(chunk)
                except (ValueError, LlamuxError) as e:  # headers are out: report in the stream
                    self._event({"error": {"message": str(e), "type": "server_error", "code": 500}})
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                result.close()  # the client went away: stop generating

        def _event(self, payload):
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        def _json(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status, message, kind="invalid_request_error"):
            self._json(status, {"error": {"message": message, "type": kind, "code": status}})

    server = ThreadingHTTPServer((host, port), Handler)
    server.verbose = True
    return server


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m llamux.server", description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--model", required=True, help="GGUF model file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model-name", default="llama", help="the model id /v1/models reports")
    p.add_argument("-c", "--ctx-size", type=int, default=2048, help="context size (0: the model's)")
    p.add_argument("-t", "--threads", type=int, default=None, help="CPU threads (default: one per physical core)")
    p.add_argument("-tb", "--threads-batch", type=int, default=None, help="CPU threads for prompts (default: as -t)")
    p.add_argument("-ngl", "--n-gpu-layers", type=int, default=0)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--placement", default=None)
    p.add_argument("--chat-format", default=None, help="llama-2, zephyr or chatml (default: from the file)")
    p.add_argument("-ctk", "--cache-type-k", default="f16", choices=list(CACHE_TYPES), help="KV cache type of keys")
    p.add_argument("-ctv", "--cache-type-v", default="f16", choices=list(CACHE_TYPES), help="KV cache type of values")
    p.add_argument("--rope-freq-base", type=float, default=0.0, help="RoPE base (0: the model's)")
    p.add_argument("--rope-freq-scale", type=float, default=0.0, help="RoPE scale (0: the model's)")
    p.add_argument("--pooling", default="mean", choices=sorted(POOLING),
                   help="how /v1/embeddings turns a text's tokens into one vector (default mean)")
    p.add_argument("--no-mmap", action="store_true", help="read the model into memory instead of mapping it")
    p.add_argument("--mlock", action="store_true", help="keep the model in RAM (warns when ulimit -l is too low)")
    p.add_argument("-q", "--quiet", action="store_true", help="no request log, runtime errors only")
    args = p.parse_args(argv)
    try:
        llm = Llama(args.model, n_ctx=args.ctx_size, n_threads=args.threads, n_threads_batch=args.threads_batch,
                    n_gpu_layers=args.n_gpu_layers, backend=args.backend,
                    placement=args.placement, chat_format=args.chat_format, embedding=True,
                    pooling_type=POOLING[args.pooling], verbose=not args.quiet,
                    type_k=CACHE_TYPES[args.cache_type_k], type_v=CACHE_TYPES[args.cache_type_v],
                    rope_freq_base=args.rope_freq_base, rope_freq_scale=args.rope_freq_scale,
                    use_mmap=not args.no_mmap, use_mlock=args.mlock)
        server = make_server(llm, args.host, args.port, args.model_name)
    except (ValueError, LlamuxError, OSError) as e:
        print(f"llamux.server: {e}", file=sys.stderr)
        return 1
    server.verbose = not args.quiet
    host, port = server.server_address[:2]
    print(f"llamux.server: serving {args.model} as {args.model_name!r} at http://{host}:{port}/v1",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
