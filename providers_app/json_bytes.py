"""JSON on the request path: orjson, with the standard library wherever the two would differ.

orjson writes a small answer ~15× faster than json.dumps and reads one ~4× faster than
json.loads (docs/benchmarks.md). Every non-streamed answer, upstream request body and stream
event is written here; OpenAI's answers and chunks and Anthropic's stream events are read here.

Writing, orjson refuses what json.dumps writes: an integer past 64 bits (a client's tool schema
may hold one) and a string that is not UTF-8 (a lone surrogate an upstream sent). Those go to
json.dumps, with non-ASCII escaped, so that the bytes are always valid UTF-8 JSON.

Reading, orjson refuses what json.loads reads (NaN, a lone surrogate, UTF-16): such text goes
to json.loads. It also reads an integer past 64 bits as a float, so `loads` is for payloads
that cannot hold one (see there).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8 (non-ASCII as is)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """json.loads(data), faster, for a provider's own JSON: the same value or the same error,
    except that an integer past 64 bits comes back as a float. So it reads only payloads whose
    numbers are the provider's counts and scores (OpenAI's answers, chunks and embeddings, where
    tool arguments are text; Anthropic's stream events, where tool input arrives as text), never
    a model's free-form JSON (Anthropic's non-streamed tool input, Ollama's arguments): those
    keep json.loads, which reads any integer exactly."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # it reads more (NaN, lone surrogates, UTF-16), or raises its own error
