"""providers_app.adapters.sse_decode: body bytes -> SSE events, however the bytes are split."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from providers_app.adapters.sse_decode import Event, SSEDecoder, aiter_events, drain

OPENAI_BODY = b'data: {"id": "c1", "choices": []}\n\ndata: {"id": "c2"}\n\ndata: [DONE]\n\n'
OPENAI_EVENTS = [Event(None, '{"id": "c1", "choices": []}'), Event(None, '{"id": "c2"}'), Event(None, "[DONE]")]

ANTHROPIC_BODY = (
    b'event: message_start\ndata: {"type": "message_start"}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "text": "h\xc3\xa9llo \xe2\x9c\x93"}\n\n'
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
)
ANTHROPIC_EVENTS = [
    Event("message_start", '{"type": "message_start"}'),
    Event("ping", '{"type": "ping"}'),
    Event("content_block_delta", '{"type": "content_block_delta", "text": "héllo ✓"}'),
    Event("message_stop", '{"type": "message_stop"}'),
]


def decode(*chunks: bytes) -> list[Event]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_bodies():
    assert decode(OPENAI_BODY) == OPENAI_EVENTS
    assert decode(ANTHROPIC_BODY) == ANTHROPIC_EVENTS


@pytest.mark.parametrize(("body", "events"), [(OPENAI_BODY, OPENAI_EVENTS), (ANTHROPIC_BODY, ANTHROPIC_EVENTS)])
def test_split_at_every_byte(body, events):
    # Network chunks end anywhere: mid-field, mid-line-end, mid-UTF-8 character.
    for cut in range(1, len(body)):
        assert decode(body[:cut], body[cut:]) == events, cut
    assert decode(*(body[i : i + 1] for i in range(len(body)))) == events


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"])
def test_crlf_and_cr_line_ends(line_end):
    body = ANTHROPIC_BODY.replace(b"\n", line_end)
    assert decode(body) == ANTHROPIC_EVENTS
    for cut in range(1, len(body)):  # a CRLF split between two chunks is one line end, not two
        assert decode(body[:cut], body[cut:]) == ANTHROPIC_EVENTS, cut


def test_multi_line_data_joins_with_newlines():
    assert decode(b'data: {"a":\ndata: 1}\n\n') == [Event(None, '{"a":\n1}')]
    assert decode(b"data: x\r\ndata:\r\ndata: y\r\n\r\n") == [Event(None, "x\n\ny")]


def test_comments_and_unused_fields_are_ignored():
    body = b": keep-alive\n\nid: 7\nretry: 100\n: note\nevent: ping\ndata: {}\nfoo: bar\n\n"
    assert decode(body) == [Event("ping", "{}")]


def test_one_leading_space_is_stripped_and_no_space_is_fine():
    assert decode(b"event:ping\ndata:{}\n\n") == [Event("ping", "{}")]
    assert decode(b"data:  two spaces\n\n") == [Event(None, " two spaces")]
    assert decode(b"data\n\n") == [Event(None, "")]  # a field name alone: an empty value


def test_event_without_data_is_dispatched():
    # As the SDKs do: Anthropic's `event: error` must surface even if its data is missing.
    assert decode(b"event: error\n\n") == [Event("error", "")]


def test_blank_lines_alone_dispatch_nothing():
    assert decode(b"\n\n\r\n\n") == []


def test_an_event_without_its_blank_line_is_dropped_at_the_end():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: cut") == [Event(None, "complete")]
    assert decoder.feed(b" short\n") == []  # the line ends, but the event never does


def test_invalid_utf8_raises_value_error():
    # errors.classify turns ValueError into UpstreamMalformedResponse.
    with pytest.raises(ValueError):
        decode(b"data: \xff\xfe\n\n")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_aiter_events_and_drain():
    events = aiter_events(_chunks(OPENAI_BODY[:10], OPENAI_BODY[10:40], OPENAI_BODY[40:], b"data: after\n\n"))
    seen = []
    async for event in events:
        seen.append(event)
        if event.data == "[DONE]":
            await drain(events)  # reads (and ignores) the rest
            break
    assert seen == OPENAI_EVENTS
    assert [e async for e in events] == []


async def test_drain_gives_up_on_a_body_that_does_not_end():
    async def endless() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)
            yield b": still here\n"

    loop = asyncio.get_running_loop()
    start = loop.time()
    await drain(aiter_events(endless()), limit_s=0.05)
    assert loop.time() - start < 1.0


async def test_drain_swallows_read_errors():
    async def failing() -> AsyncIterator[bytes]:
        yield b"data: x\n\n"
        raise OSError("connection reset")

    await drain(aiter_events(failing()))
