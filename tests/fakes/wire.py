"""Provider-independent pieces of the fakes: the deterministic answer, usage numbers,
and writing a (possibly faulty) response to the socket.

Each provider module subclasses `ProviderWire` and only says how its bodies, stream
frames and error bodies look; faults are applied here, the same way for all of them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .behaviour import Behaviour, FakeState


@dataclass(frozen=True)
class Prompt:
    """The parts of a provider request the fake reacts to."""

    model: str
    texts: tuple[tuple[str, str], ...]  # (role, text) of every message, system included
    max_tokens: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool = True  # OpenAI sends the final usage chunk only when asked


@dataclass(frozen=True)
class Answer:
    chunks: tuple[str, ...]  # concatenated, they are the answer text
    finish: str  # "stop" | "length" | "stop_sequence" (each provider maps it to its own word)
    stop_sequence: str | None
    input_tokens: int  # words in every message: deterministic, non-trivial
    output_tokens: int  # words in the answer
    cache_read: int
    cache_write: int

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def answer_for(prompt: Prompt, *, chunks: int, cache_read: int = 0, cache_write: int = 0) -> Answer:
    """Echo the last user message's words, cut by stop words and max_tokens, in `chunks` pieces."""
    last_user = next((t for role, t in reversed(prompt.texts) if role == "user"), "")
    words = last_user.split() or ["ok"]
    finish, stop_sequence = "stop", None
    for i, word in enumerate(words):
        if word in prompt.stop:
            words, finish, stop_sequence = words[:i], "stop_sequence", word
            break
    if prompt.max_tokens is not None and len(words) > prompt.max_tokens:
        words, finish, stop_sequence = words[: prompt.max_tokens], "length", None
    n = max(1, min(chunks, len(words))) if words else 0
    groups = [words[i * len(words) // n : (i + 1) * len(words) // n] for i in range(n)]
    pieces = tuple((" " if i else "") + " ".join(g) for i, g in enumerate(groups))
    return Answer(
        chunks=pieces,
        finish=finish,
        stop_sequence=stop_sequence,
        input_tokens=sum(len(t.split()) for _, t in prompt.texts),
        output_tokens=len(words),
        cache_read=cache_read,
        cache_write=cache_write,
    )


def content_text(content: Any) -> str:
    """Message content as text: a plain string or a list of {"type": "text", "text": ...} blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


class ProviderWire:
    """How one provider's answers look on the wire. Subclasses fill these in."""

    name = "base"
    stream_content_type = "text/event-stream"

    def parse(self, body: dict[str, Any]) -> Prompt:
        raise NotImplementedError

    def completion_body(self, prompt: Prompt, answer: Answer) -> dict[str, Any]:
        raise NotImplementedError

    def stream_frames(self, prompt: Prompt, answer: Answer) -> list[bytes]:
        raise NotImplementedError

    def default_error_type(self, status: int) -> str:
        raise NotImplementedError

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def error_frame(self, error_type: str, message: str) -> bytes:
        raise NotImplementedError

    def malformed_frame(self) -> bytes:
        raise NotImplementedError

    def wrong_shape_body(self) -> dict[str, Any]:
        # Valid JSON that is not this provider's response.
        return {"unexpected": True}


async def respond(
    request: web.Request, wire: ProviderWire, body: dict[str, Any], behaviour: Behaviour, state: FakeState
) -> web.StreamResponse:
    """Answer one provider request according to `behaviour`."""
    delay = state.config.latency_s + behaviour.delay_s
    if delay:
        await asyncio.sleep(delay)
    if behaviour.kind == "close":
        _drop(request)
        return web.Response()  # never sent: the transport is gone
    if behaviour.kind == "error":
        status = behaviour.status
        error_type = behaviour.error_type or wire.default_error_type(status)
        message = behaviour.message or f"fake {wire.name} error {status}"
        return web.json_response(wire.error_body(status, error_type, message), status=status, headers=behaviour.headers)
    prompt = wire.parse(body)
    answer = answer_for(
        prompt,
        chunks=behaviour.chunks or state.config.chunks,
        cache_read=behaviour.cache_read,
        cache_write=behaviour.cache_write,
    )
    if behaviour.kind == "wrong_shape":
        return web.json_response(wire.wrong_shape_body(), headers=behaviour.headers)
    if not prompt.stream:
        text = json.dumps(wire.completion_body(prompt, answer))
        if behaviour.kind == "malformed":
            text = text[: len(text) // 2]  # cut mid-object: not JSON any more
        return web.Response(text=text, content_type="application/json", headers=behaviour.headers)
    return await _stream(request, wire, wire.stream_frames(prompt, answer), behaviour, state)


async def _stream(
    request: web.Request, wire: ProviderWire, frames: list[bytes], behaviour: Behaviour, state: FakeState
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": wire.stream_content_type, **behaviour.headers})
    pause = behaviour.chunk_delay_s if behaviour.chunk_delay_s is not None else state.config.chunk_delay_s
    # A fault always lands before the final frame, so the stream is never complete.
    fault_at = min(behaviour.after_frames, len(frames) - 1)
    if behaviour.kind not in ("disconnect", "stream_error", "malformed"):
        fault_at = -1
    try:
        await resp.prepare(request)
        for i, frame in enumerate(frames):
            if i == fault_at:
                if behaviour.kind == "disconnect":
                    _drop(request)
                    return resp
                if behaviour.kind == "stream_error":
                    error_type = behaviour.error_type or wire.default_error_type(
                        529 if wire.name == "anthropic" else 500
                    )
                    await resp.write(wire.error_frame(error_type, behaviour.message or "fake mid-stream error"))
                else:
                    await resp.write(wire.malformed_frame())
                await resp.write_eof()
                return resp
            if i and pause:
                await asyncio.sleep(pause)
            await resp.write(frame)
        await resp.write_eof()
    except ConnectionError:
        # The client went away while we were still streaming: that is what the gateway does
        # when its own client cancels, and what tests count via /_fake/stats.
        state.count("disconnects")
        return resp
    except asyncio.CancelledError:
        state.count("disconnects")  # handler_cancellation: aiohttp cancels us on disconnect
        raise
    state.count("streams_completed")
    return resp


def _drop(request: web.Request) -> None:
    # abort() (not close()) so nothing more is flushed: the client sees a cut body.
    if request.transport is not None:
        request.transport.abort()
