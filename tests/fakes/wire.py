"""Provider-independent pieces of the fakes: the deterministic answer, usage numbers,
and writing a (possibly faulty) response to the socket.

Each provider module subclasses `ProviderWire` and only says how its bodies, stream
frames and error bodies look; faults are applied here, the same way for all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
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
    # What each provider's wire says of tools, JSON output and images, parsed by its module:
    tools: tuple[tuple[str, dict[str, Any] | None], ...] = ()  # (name, JSON Schema of the arguments)
    tool_choice: str | None = None  # None/"auto", "none", "required" (any tool), or a tool's name
    tool_results: tuple[str, ...] = ()  # the results in the last turn, when it answers tool calls
    json_schema: dict[str, Any] | None = None  # structured output asked for (the schema)
    json_mode: bool = False  # JSON asked for without a schema
    images: int = 0  # well-formed image parts seen
    n: int = 1
    thinking: bool = False  # Anthropic's thinking asked for: the answer starts with a thinking block
    invalid: str | None = None  # what the real provider would answer 400 for (e.g. a tampered thinking block)


@dataclass(frozen=True)
class Answer:
    chunks: tuple[str, ...]  # concatenated, they are the answer text
    finish: str  # "stop" | "length" | "stop_sequence" | "tool_calls" (each provider maps it to its own word)
    stop_sequence: str | None
    input_tokens: int  # words in every message: deterministic, non-trivial
    output_tokens: int  # words in the answer
    cache_read: int
    cache_write: int
    tool_calls: tuple[ToolCallAnswer, ...] = ()
    cache_write_1h: int = 0  # of cache_write

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass(frozen=True)
class ToolCallAnswer:
    id: str
    name: str
    arguments: str  # JSON text
    fragments: tuple[str, ...]  # the arguments as a stream sends them (joined: `arguments`)

    @property
    def args(self) -> dict[str, Any]:
        return json.loads(self.arguments)


def _split(text: str, pieces: int) -> tuple[str, ...]:
    n = max(1, min(pieces, len(text)))
    return tuple(text[i * len(text) // n : (i + 1) * len(text) // n] for i in range(n))


def _first_property(schema: dict[str, Any] | None, default: str) -> str:
    props = (schema or {}).get("properties")
    if isinstance(props, dict) and props:
        return next(iter(props))
    return default


def _tool_answer(prompt: Prompt, last_user: str, chunks: int) -> tuple[ToolCallAnswer, ...] | None:
    """The calls the fake model makes: the forced tool, or the first one; every tool (up to
    3) when the last user message says "parallel". Arguments: the first property of the
    tool's schema (else "input") set to the last user message."""
    if not prompt.tools or prompt.tool_choice == "none" or prompt.tool_results:
        return None
    names = dict(prompt.tools)
    if prompt.tool_choice not in (None, "auto", "required"):
        chosen = [prompt.tool_choice] if prompt.tool_choice in names else []
    elif "parallel" in last_user.split():
        chosen = list(names)[:3]
    else:
        chosen = [prompt.tools[0][0]]
    out = []
    for i, name in enumerate(chosen):
        arguments = json.dumps({_first_property(names[name], "input"): last_user})
        ident = "call_" + hashlib.sha1(f"{i}:{name}:{arguments}".encode()).hexdigest()[:16]  # noqa: S324
        out.append(ToolCallAnswer(id=ident, name=name, arguments=arguments, fragments=_split(arguments, chunks)))
    return tuple(out)


def answer_for(prompt: Prompt, *, chunks: int, cache_read: int = 0, cache_write: int = 0) -> Answer:
    """Echo the last user message's words, cut by stop words and max_tokens, in `chunks` pieces."""
    last_user = next((t for role, t in reversed(prompt.texts) if role == "user"), "")
    calls = _tool_answer(prompt, last_user, chunks)
    if calls:
        return Answer(
            chunks=(),
            finish="tool_calls",
            stop_sequence=None,
            input_tokens=sum(len(t.split()) for _, t in prompt.texts),
            output_tokens=sum(len(c.arguments.split()) for c in calls),
            cache_read=cache_read,
            cache_write=cache_write,
            tool_calls=calls,
        )
    if prompt.json_schema is not None or prompt.json_mode:
        text = json.dumps({_first_property(prompt.json_schema, "answer"): last_user})
        return Answer(
            chunks=_split(text, chunks),
            finish="stop",
            stop_sequence=None,
            input_tokens=sum(len(t.split()) for _, t in prompt.texts),
            output_tokens=len(text.split()),
            cache_read=cache_read,
            cache_write=cache_write,
        )
    if prompt.tool_results:  # the turn after the calls: say what the tools said
        last_user = "tools said: " + " | ".join(prompt.tool_results)
    if prompt.images:
        last_user = f"images={prompt.images} {last_user}"
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
    if prompt.invalid is not None:
        return web.json_response(wire.error_body(400, wire.default_error_type(400), prompt.invalid), status=400)
    answer = answer_for(
        prompt,
        chunks=behaviour.chunks or state.config.chunks,
        cache_read=behaviour.cache_read,
        cache_write=behaviour.cache_write,
    )
    if behaviour.cache_write_1h:
        answer = dataclasses.replace(answer, cache_write_1h=behaviour.cache_write_1h)
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
