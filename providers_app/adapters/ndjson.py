"""Newline-delimited JSON (Ollama's streams): response body bytes -> one line at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


async def aiter_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The non-blank lines of a streamed body, as they complete; a last line without its
    newline is yielded when the body ends (Ollama ends its last object with one anyway)."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending
