"""Server-sent events: response body bytes -> (event, data) pairs.

The openai / anthropic adapters decode their streams' SSE framing here (see their
`stream()` methods). Follows the WHATWG event-stream rules the adapters rely on:
lines end in LF, CRLF or CR (also split across network chunks), `:` lines are comments,
multi-line `data:` fields join with LF, an event is dispatched at a blank line, and an
event left without its blank line when the body ends is dropped. `id:` and `retry:` are
not used by either provider's API and are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import NamedTuple

# How long to keep reading after the provider's last event for the body's end: an HTTP/1.1
# connection goes back to the pool only when its body was read to the end (openai's own
# stream does the same, with the same limit).
DRAIN_S = 0.1


class Event(NamedTuple):
    event: str | None  # the `event:` field; None when the event had none (OpenAI's frames)
    data: str  # the `data:` lines, joined with "\n"


class SSEDecoder:
    """Incremental: feed() each body chunk as it arrives, get back the events it completed."""

    __slots__ = ("_pending", "_skip_lf", "_event", "_data")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line whose end has not arrived yet
        self._skip_lf = False  # the last chunk ended in CR: a LF opening the next one ends no line
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending.append(chunk)
            return []
        complete = chunk[:end]
        if self._pending:
            self._pending.append(complete)
            complete = b"".join(self._pending)
            self._pending.clear()
        if end + 1 < len(chunk):
            self._pending.append(chunk[end + 1 :])
        # Decoding whole lines at once: a multi-byte character never spans a line end.
        return self._lines(complete.decode("utf-8").split("\n"))

    def _lines(self, lines: list[str]) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            if not line:
                # Dispatch as the SDKs do: an `event:` without data still counts (an empty error event).
                if self._data or self._event is not None:
                    events.append(Event(self._event, "\n".join(self._data)))
                    self._event, self._data = None, []
            elif line[0] != ":":  # ":..." is a comment
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    self._data.append(value)
                elif name == "event":
                    self._event = value or None
                # Other fields (id, retry) are of no use to either provider's API.
        return events


async def aiter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """The events of a streamed body (`http.Response.aiter_bytes()`), as they complete."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event


async def drain(events: AsyncIterator[Event], limit_s: float = DRAIN_S) -> None:
    """Read the rest of a body whose last event has been seen, for at most limit_s.

    What it finds is ignored, and so are its errors: the answer is already complete."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(limit_s):
            async for _ in events:
                pass
