"""Reading provider response bodies as decoded JSON, without the SDKs' response models.

`complete()` and `stream()` ask the SDK for the raw HTTP response (see openai.py /
anthropic.py) and translate the JSON themselves, instead of having the SDK build pydantic
models only to copy five fields out of them (bench/RESULTS.md: ~7.6 % of the gateway's CPU
for complete(); streams decode their SSE frames in sse_decode.py). A body of the wrong shape
raises ValueError / TypeError / AttributeError, which errors.classify turns into
UpstreamMalformedResponse (with the provider's name), as it did for the SDK's validation errors.
"""

from __future__ import annotations

import json
from typing import Any


def json_body(response: Any) -> Any:
    """The decoded JSON of an already read HTTP response (httpx2.Response); ValueError if not JSON."""
    return json.loads(response.content)


def field_of(obj: Any, name: str) -> Any:
    """obj[name] of a decoded JSON object; None if absent, or if obj is not an object (e.g. null)."""
    return obj.get(name) if isinstance(obj, dict) else None


def count(value: Any) -> int:
    """A token count: an int, or 0 when absent."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"a token count was {type(value).__name__}, not an integer")


def str_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def text_or_empty(value: Any) -> str:
    return str_or_none(value) or ""
