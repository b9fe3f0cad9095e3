"""The sampling arguments of llama-cpp-python's calls: checked, then handed to the runtime's
sampler (llama.cpp's chain: logit biases, penalties, top-k, typical-p, top-p, min-p,
temperature; or Mirostat in its place).

Defaults are llama-cpp-python's. Errors are ValueError naming the argument.
"""

from . import _llamux
from .grammar import LlamaGrammar

# llama.cpp's sampling settings that llama-cpp-python does not have, under the names the
# llama.cpp server takes them; accepted as extra keywords by the completion calls and the
# server. Their neutral values (the steps are off).
LLAMA_CPP_EXTRAS = {
    "min_keep": 0, "xtc_probability": 0.0, "xtc_threshold": 0.1, "dynatemp_range": 0.0,
    "dynatemp_exponent": 1.0, "top_n_sigma": -1.0, "dry_multiplier": 0.0, "dry_base": 1.75,
    "dry_allowed_length": 2, "dry_penalty_last_n": -1, "dry_sequence_breakers": None,
}
_INTEGER_EXTRAS = ("min_keep", "dry_allowed_length", "dry_penalty_last_n")


def split_extras(kwargs):
    """Takes LLAMA_CPP_EXTRAS out of a call's other keywords; returns them."""
    return {name: kwargs.pop(name) for name in list(kwargs) if name in LLAMA_CPP_EXTRAS}


def make_sampler(engine, *, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,
                 seed, typical_p=1.0, frequency_penalty=0.0, presence_penalty=0.0,
                 mirostat_mode=0, mirostat_tau=5.0, mirostat_eta=0.1, logit_bias=None,
                 grammar=None, end_tokens=(), **extras):
    """A _llamux.Sampler for these settings; seed already resolved to 0..2**32-1. grammar:
    a LlamaGrammar the text must follow (ending at end of text or one of end_tokens).
    extras: LLAMA_CPP_EXTRAS (DRY, XTC, dynamic temperature, top-n-sigma, min_keep)."""
    for name, value in (("temperature", temperature), ("top_p", top_p), ("min_p", min_p),
                        ("repeat_penalty", repeat_penalty), ("typical_p", typical_p),
                        ("frequency_penalty", frequency_penalty),
                        ("presence_penalty", presence_penalty), ("mirostat_tau", mirostat_tau),
                        ("mirostat_eta", mirostat_eta)):
        _check_number(name, value)
    for name, value in (("top_k", top_k), ("repeat_last_n", repeat_last_n)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}: expected an integer, got {value!r}")
    if repeat_last_n < -1:
        raise ValueError(f"repeat_last_n: expected -1 (all) or a count >= 0, got {repeat_last_n!r}")
    if mirostat_mode not in (0, 1, 2) or isinstance(mirostat_mode, bool):
        raise ValueError(f"mirostat_mode: expected 0 (off), 1 or 2, got {mirostat_mode!r}")
    for name, value in extras.items():
        if name not in LLAMA_CPP_EXTRAS:
            raise TypeError(f"unexpected keyword argument {name!r}")
        if name == "dry_sequence_breakers":
            if value is not None and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
                raise ValueError(f"dry_sequence_breakers: expected a list of strings, got {value!r}")
        elif name in _INTEGER_EXTRAS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        else:
            _check_number(name, value)
    extras = {name: (float(v) if name not in _INTEGER_EXTRAS and name != "dry_sequence_breakers" else v)
              for name, v in extras.items() if v is not None}
    if grammar is not None and not isinstance(grammar, LlamaGrammar):
        raise ValueError(f"grammar: expected a LlamaGrammar (LlamaGrammar.from_string(...)), got {grammar!r}")
    return _llamux.Sampler(
        engine=engine, grammar=grammar and grammar._parsed, end_tokens=list(end_tokens),
        temperature=float(temperature), top_k=top_k, top_p=float(top_p), min_p=float(min_p),
        repeat_penalty=float(repeat_penalty), repeat_last_n=repeat_last_n, seed=seed,
        typical_p=float(typical_p), frequency_penalty=float(frequency_penalty),
        presence_penalty=float(presence_penalty), mirostat=mirostat_mode,
        mirostat_tau=float(mirostat_tau), mirostat_eta=float(mirostat_eta),
        logit_bias=logit_bias_pairs(logit_bias, engine.n_vocab), **extras)


def logit_bias_pairs(logit_bias, n_vocab):
    """[(token, bias)] from {token: bias}; keys may be ints or their decimal strings (as
    OpenAI's JSON sends them)."""
    if logit_bias is None:
        return []
    if not isinstance(logit_bias, dict):
        raise ValueError(f"logit_bias: expected a dict of token id to bias, got {logit_bias!r}")
    pairs = []
    for key, bias in logit_bias.items():
        token = key
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            token = int(key)
        if not isinstance(token, int) or isinstance(token, bool) or not 0 <= token < n_vocab:
            raise ValueError(f"logit_bias: expected token ids 0..{n_vocab - 1}, got {key!r}")
        _check_number(f"logit_bias[{key!r}]", bias)
        pairs.append((token, float(bias)))
    return pairs


def _check_number(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        raise ValueError(f"{name}: expected a number, got {value!r}")
