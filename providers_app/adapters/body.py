"""Reading decoded provider JSON defensively: the adapters translate the JSON themselves.

A body of the wrong shape raises TypeError / AttributeError here, which errors.classify
turns into UpstreamMalformedResponse (with the provider's name).
"""

from __future__ import annotations

from typing import Any


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
