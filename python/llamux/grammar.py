"""Grammars that constrain generated text, as llama-cpp-python's LlamaGrammar: GBNF text
(llama.cpp's format), a GBNF file, or a JSON schema turned into GBNF.

    grammar = LlamaGrammar.from_string('root ::= "yes" | "no"')
    llm("Is the sky blue? Answer: ", grammar=grammar, max_tokens=4)

Errors in the grammar or schema raise ValueError with the line and column (or the schema's
JSON pointer) at fault.
"""

import json
import os

from . import _llamux


class LlamaGrammar:
    def __init__(self, text, source):
        try:
            self._parsed = _llamux.Grammar(text, source)
        except _llamux.LlamuxError as e:
            raise ValueError(str(e)) from None
        self.grammar = text  # the GBNF text

    @classmethod
    def from_string(cls, grammar, verbose=True):
        """A grammar from GBNF text. verbose is accepted for llama-cpp-python's sake."""
        if not isinstance(grammar, str):
            raise ValueError(f"grammar: expected GBNF text, got {grammar!r}")
        return cls(grammar, "grammar")

    @classmethod
    def from_file(cls, file, verbose=True):
        """A grammar from a GBNF file."""
        path = os.fspath(file)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ValueError(f"grammar file {path}: {e.strerror}") from None
        return cls(text, path)

    @classmethod
    def from_json_schema(cls, json_schema, verbose=True):
        """A grammar for the JSON values of a JSON schema (a JSON string, or a dict)."""
        return cls(schema_grammar(json_schema, "json_schema"), "json_schema")


def schema_grammar(schema, source):
    """GBNF text for a JSON schema given as a JSON string or a dict."""
    if not isinstance(schema, str):
        try:
            schema = json.dumps(schema)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: expected a JSON schema, got {schema!r} ({e})") from None
    try:
        return _llamux.json_schema_to_grammar(schema, source)
    except _llamux.LlamuxError as e:
        raise ValueError(str(e)) from None


def response_format_grammar(response_format):
    """The grammar an OpenAI response_format asks for: {"type": "text"} none,
    {"type": "json_object"} any JSON object (or the values of its "schema"),
    {"type": "json_schema", "json_schema": {"schema": ...}} that schema's values."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        if schema is None:
            return LlamaGrammar(_llamux.json_grammar(), "response_format")
        return LlamaGrammar(schema_grammar(schema, "response_format.schema"), "response_format.schema")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise ValueError('response_format: expected {"type": "json_schema", "json_schema": '
                             f'{{"schema": ...}}}}, got {response_format!r}')
        return LlamaGrammar(schema_grammar(spec["schema"], "response_format.json_schema.schema"),
                            "response_format.json_schema.schema")
    raise ValueError('response_format: expected a dict with "type" text, json_object or '
                     f"json_schema, got {response_format!r}")
