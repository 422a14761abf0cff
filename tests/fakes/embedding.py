"""Provider-independent pieces of the fakes' embeddings: a deterministic vector per input and
its usage. Each provider's fake renders them in its own wire format.

A vector is derived from a hash of its text: the same text always gets the same vector, two
texts different ones. Its components are multiples of 1/1024 in [-1, 1), exact in float32, so
that a vector sent in base64 (a float32 array) decodes to exactly the floats of the float one.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

DEFAULT_DIMENSIONS = 8


class BadEmbedInput(ValueError):
    """An input the provider would refuse with a 400 (the message is the provider's)."""


def vector_for(text: str, dimensions: int | None = None) -> list[float]:
    return list(_vector(text, dimensions or DEFAULT_DIMENSIONS))


@functools.lru_cache(maxsize=4096)  # deterministic: the bench measures the gateway, not this
def _vector(text: str, size: int) -> tuple[float, ...]:
    raw = hashlib.shake_256(text.encode()).digest(2 * size)
    return tuple((int.from_bytes(raw[2 * i : 2 * i + 2], "little") % 2048 - 1024) / 1024 for i in range(size))


def tokens_of(inputs: list[str]) -> int:
    """The usage the fakes report: words in every input (deterministic, non-trivial)."""
    return sum(len(text.split()) for text in inputs)


def inputs_of(raw: Any) -> list[str]:
    """`input` of a request: a string or a list of strings (token arrays are not modelled)."""
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise BadEmbedInput("'input' must be a non-empty string or a non-empty list of strings")
    if any(not t for t in inputs):
        raise BadEmbedInput("'input' cannot contain an empty string")
    return inputs
