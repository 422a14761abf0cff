"""stream() of the openai / anthropic adapters against exact bytes on the wire.

The fakes in tests/fakes send well-formed frames; here a tiny server writes whatever body a
test gives it, in the pieces it gives (CRLF line ends, comments, frames split mid-line,
bodies that end early or never), to check the adapters' own SSE reading end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.types import Usage
from providers_app.errors import (
    UpstreamConnectionError,
    UpstreamMalformedResponse,
    UpstreamRateLimited,
    UpstreamServerError,
)

from .support import API_KEY, build_adapter, chat, collect


class RawUpstream:
    """Answers every POST with `parts` written one by one (with a pause, so they tend to
    arrive as separate network chunks), then `hold_s` of silence, then the body's end."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.hold_s = 0.0
        self.url = ""
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in self.parts:
            await response.write(part)
            await asyncio.sleep(0.002)
        await asyncio.sleep(self.hold_s)
        await response.write_eof()
        return response


@pytest.fixture
async def raw() -> AsyncIterator[RawUpstream]:
    upstream = RawUpstream()
    app = web.Application()
    app.router.add_post("/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    upstream.url = f"http://127.0.0.1:{port}"
    yield upstream
    await runner.cleanup()


@pytest.fixture
async def make(raw) -> AsyncIterator[Any]:
    made: list[ProviderAdapter] = []

    def make(provider: str) -> ProviderAdapter:
        base_url = raw.url + ("/v1" if provider == "openai" else "")
        made.append(build_adapter(provider, base_url))
        return made[-1]

    yield make
    for adapter in made:
        await adapter.aclose()


def openai_frame(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None, *, crlf: bool = False) -> bytes:
    body = {"id": "chatcmpl-raw", "object": "chat.completion.chunk", "choices": choices, "usage": usage}
    frame = f"data: {json.dumps(body)}\n\n"
    return (frame.replace("\n", "\r\n") if crlf else frame).encode()


def text_choice(text: str, finish: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]


OPENAI_USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3}}


def anthropic_frame(kind: str, data: dict[str, Any] | None = None) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **(data or {})})}\n\n".encode()


ANTHROPIC_START = anthropic_frame(
    "message_start", {"message": {"id": "msg_raw", "usage": {"input_tokens": 5, "output_tokens": 1}}}
)


def anthropic_text(text: str) -> bytes:
    return anthropic_frame("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


ANTHROPIC_END = anthropic_frame(
    "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}
) + anthropic_frame("message_stop")


# --- openai --------------------------------------------------------------------------------
async def test_openai_crlf_comments_and_frames_split_mid_line(make, raw):
    body = (
        b": keep-alive\r\n\r\n"
        + openai_frame(text_choice("he"), crlf=True)
        + openai_frame(text_choice("llo"), crlf=True)
        + openai_frame(text_choice("", "stop"), crlf=True)
        + openai_frame([], OPENAI_USAGE, crlf=True)
        + b"data: [DONE]\r\n\r\n"
    )
    raw.parts = [body[i : i + 7] for i in range(0, len(body), 7)]  # every line split, CRLFs too
    chunks = await collect(make("openai"), chat())
    assert [c.text for c in chunks[:-1]] == ["he", "llo"]
    final = chunks[-1]
    assert (final.finish_reason, final.response_id, final.extra) == ("stop", "chatcmpl-raw", {})
    assert final.usage == Usage(input_tokens=4, output_tokens=2, cache_read_tokens=3)


async def test_openai_request_body_on_the_wire(make, raw):
    raw.parts = [openai_frame(text_choice("x", "stop")), b"data: [DONE]\n\n"]
    await collect(make("openai"), chat(max_tokens=5, temperature=0.5))
    assert raw.bodies[-1] == {
        "model": "fake-small",
        "messages": [{"role": "user", "content": "hello brave new world"}],
        "max_tokens": 5,
        "temperature": 0.5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_openai_without_done_or_usage_still_completes(make, raw):
    # A server that ignores include_usage and just ends the body after the finish_reason.
    raw.parts = [openai_frame(text_choice("hi")), openai_frame(text_choice("", "length"))]
    chunks = await collect(make("openai"), chat())
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].extra == {"usage_missing": True}


async def test_openai_body_ending_without_finish_reason_is_an_error(make, raw):
    raw.parts = [openai_frame(text_choice("cut sh")), b"data: [DONE]\n\n"]
    with pytest.raises(UpstreamConnectionError):
        await collect(make("openai"), chat())


async def test_openai_done_ends_the_stream_even_if_the_body_does_not(make, raw):
    raw.parts = [openai_frame(text_choice("ok", "stop")), b"data: [DONE]\n\n"]
    raw.hold_s = 3.0  # the body stays open after [DONE]
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = await collect(make("openai"), chat())
    assert chunks[-1].finish_reason == "stop"
    assert loop.time() - start < 1.5


@pytest.mark.parametrize(
    "payload", [b"not json", b"42", b'{"choices": "x"}', b'{"choices": [{"delta": {"content": 7}}]}', b"{"]
)
async def test_openai_garbage_payload_is_malformed(make, raw, payload):
    raw.parts = [openai_frame(text_choice("a")), b"data: " + payload + b"\n\n"]
    with pytest.raises(UpstreamMalformedResponse):
        await collect(make("openai"), chat())


async def test_openai_error_payload_is_classified_by_its_type(make, raw):
    error = {"error": {"type": "rate_limit_exceeded", "message": f"slow down {API_KEY}"}}
    raw.parts = [openai_frame(text_choice("a")), f"data: {json.dumps(error)}\n\n".encode()]
    with pytest.raises(UpstreamRateLimited) as info:
        await collect(make("openai"), chat())
    assert API_KEY not in str(info.value)
    assert info.value.__cause__ is None


# --- anthropic -----------------------------------------------------------------------------
async def test_anthropic_crlf_pings_unknown_events_and_split_frames(make, raw):
    body = (
        ANTHROPIC_START
        + b": comment\n\n"
        + anthropic_frame("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + anthropic_frame("ping")
        + anthropic_text("hé")
        + anthropic_frame("some_future_event", {"x": 1})
        + anthropic_text("llo")
        + anthropic_frame("content_block_stop", {"index": 0})
        + ANTHROPIC_END
    ).replace(b"\n", b"\r\n")
    raw.parts = [body[i : i + 5] for i in range(0, len(body), 5)]
    chunks = await collect(make("anthropic"), chat())
    assert [c.text for c in chunks[:-1]] == ["hé", "llo"]
    final = chunks[-1]
    assert (final.finish_reason, final.response_id) == ("stop", "msg_raw")
    assert final.usage == Usage(input_tokens=5, output_tokens=2)


async def test_anthropic_request_body_on_the_wire(make, raw):
    raw.parts = [ANTHROPIC_START, ANTHROPIC_END]
    await collect(make("anthropic"), chat(temperature=0.3, top_p=0.8, user="u1"))
    assert raw.bodies[-1] == {
        "model": "fake-small",
        "messages": [{"role": "user", "content": "hello brave new world"}],
        "max_tokens": 4096,
        "temperature": 0.3,
        "top_p": 0.8,
        "metadata": {"user_id": "u1"},
        "stream": True,
    }


async def test_anthropic_body_ending_before_message_stop_is_an_error(make, raw):
    raw.parts = [ANTHROPIC_START, anthropic_text("cut")]
    with pytest.raises(UpstreamConnectionError):
        await collect(make("anthropic"), chat())


async def test_anthropic_message_stop_ends_the_stream_even_if_the_body_does_not(make, raw):
    raw.parts = [ANTHROPIC_START, anthropic_text("ok"), ANTHROPIC_END]
    raw.hold_s = 3.0
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = await collect(make("anthropic"), chat())
    assert chunks[-1].finish_reason == "stop"
    assert loop.time() - start < 1.5


async def test_anthropic_error_event_that_is_not_json(make, raw):
    raw.parts = [ANTHROPIC_START, b"event: error\ndata: upstream fell over\n\n"]
    with pytest.raises(UpstreamServerError):
        await collect(make("anthropic"), chat())


@pytest.mark.parametrize(
    "frame",
    [
        b"event: content_block_delta\ndata: not json\n\n",
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": 3}\n\n',
        b'event: message_delta\ndata: {"type": "message_delta", "delta": {}, "usage": {"output_tokens": "2"}}\n\n',
    ],
)
async def test_anthropic_garbage_event_is_malformed(make, raw, frame):
    raw.parts = [ANTHROPIC_START, frame, ANTHROPIC_END]
    with pytest.raises(UpstreamMalformedResponse):
        await collect(make("anthropic"), chat())
