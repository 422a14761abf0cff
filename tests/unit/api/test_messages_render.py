"""Answers rendered in Anthropic's Messages shapes: the message (text, tool_use blocks, each
finish reason, usage with cache counts) and the exact event sequence of a stream (text, tool
use, both, a refusal) — each checked against its declaration, read by the anthropic SDK's own
types, and the events folded by the SDK's own stream accumulator into the message they stand for."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from completions_app.api.errors import anthropic_error_reply, anthropic_status
from completions_app.api.messages_render import STOP_REASONS, EventRenderer, message_json, tool_input
from completions_app.api.messages_shapes import MESSAGES_ERROR, MESSAGES_EVENT, MESSAGES_RESPONSE
from completions_app.services.types import CompletionResult, StreamDelta, StreamEnd
from providers_app.adapters.anthropic_answer import FINISH_REASONS
from providers_app.adapters.types import Choice, ToolCall, ToolCallDelta, Usage
from providers_app.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    CircuitOpen,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    UpstreamAuthError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)

EVENTS = TypeAdapter(RawMessageStreamEvent)
CALLS = (ToolCall("toolu_1", "get_weather", '{"city":"Oslo"}'), ToolCall("toolu_2", "get_time", ""))
USAGE = Usage(input_tokens=3, output_tokens=9, cache_read_tokens=4, cache_write_tokens=1)


def _result(choice: Choice, usage: Usage = USAGE) -> CompletionResult:
    return CompletionResult(
        request_id="r1", model="claude-x", served_model="m", provider="an", choices=[choice], usage=usage,
        cost_usd=Decimal("0.0001"), cached=False, latency_ms=1.5,
    )  # fmt: skip


def _checked(data: dict) -> Message:
    MESSAGES_RESPONSE.check(data)
    return Message.model_validate(data)  # as the anthropic SDK reads it


def test_a_text_answer():
    message = _checked(message_json(_result(Choice(text="hi", finish_reason="stop"))))
    assert message.id == "msg_r1" and message.model == "claude-x" and message.role == "assistant"
    assert [(b.type, b.text) for b in message.content] == [("text", "hi")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    u = message.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (3, 9, 4, 1)


def test_tool_calls_with_text_and_without_arguments():
    data = message_json(_result(Choice(text="Let me look.", finish_reason="tool_calls", tool_calls=CALLS)))
    message = _checked(data)
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[1].id == "toolu_1" and message.content[1].input == {"city": "Oslo"}
    assert message.content[2].input == {}
    assert message.stop_reason == "tool_use"
    only_calls = _checked(message_json(_result(Choice(finish_reason="tool_calls", tool_calls=CALLS[:1]))))
    assert [b.type for b in only_calls.content] == ["tool_use"]


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"),
     (None, "end_turn"), ("something_new", "end_turn")],
)  # fmt: skip
def test_every_finish_reason(finish, stop):
    assert _checked(message_json(_result(Choice(text="x", finish_reason=finish)))).stop_reason == stop


def test_stop_reasons_invert_the_adapters_table():
    for stop_reason, finish in STOP_REASONS.items():
        assert FINISH_REASONS[finish] == stop_reason


def test_a_refusal_is_text_with_stop_reason_refusal():
    message = _checked(message_json(_result(Choice(refusal="I can't help with that.", finish_reason="stop"))))
    assert message.content[0].text == "I can't help with that." and message.stop_reason == "refusal"


def test_arguments_that_are_not_an_object_are_kept():
    assert tool_input('{"a": 1}') == {"a": 1}
    assert tool_input("  ") == {}
    assert tool_input("[1, 2") == {"_arguments": "[1, 2"}
    assert tool_input("[1]") == {"_arguments": "[1]"}


# --- streams -------------------------------------------------------------------------------------
def _frames(chunks: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for frame in b"".join(chunks).decode().split("\n\n"):
        if frame:
            name_line, data_line = frame.split("\n")
            assert name_line.startswith("event: ") and data_line.startswith("data: ")
            data = json.loads(data_line[len("data: ") :])
            assert name_line[len("event: ") :] == data["type"]
            out.append((data["type"], data))
    return out


def _stream(*deltas: StreamDelta, end: Choice, usage: Usage = USAGE) -> tuple[list[str], Message]:
    """(event types, the message the SDK folds them into), every event checked on the way."""
    render = EventRenderer("r1", "claude-x")
    chunks = render.opening()
    for d in deltas:
        chunks += render(d)
    chunks += render(StreamEnd(_result(end, usage)))
    snapshot, bufs, kinds = None, {}, []
    for kind, data in _frames(chunks):
        MESSAGES_EVENT.check(data)
        kinds.append(kind)
        parsed = EVENTS.validate_python(data) if kind != "ping" else None
        if parsed is not None:
            snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None
    return kinds, Message.model_validate(snapshot.model_dump())


def test_a_text_stream():
    kinds, message = _stream(StreamDelta("one "), StreamDelta("two"), end=Choice(text="one two", finish_reason="stop"))
    assert kinds == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
    assert [(b.type, b.text) for b in message.content] == [("text", "one two")]
    assert message.stop_reason == "end_turn" and message.id == "msg_r1"
    u = message.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (3, 9, 4, 1)


def test_a_tool_use_stream_after_text():
    kinds, message = _stream(
        StreamDelta("Let me look."),
        StreamDelta("", tool_calls=(ToolCallDelta(0, id="toolu_1", name="get_weather"),)),
        StreamDelta("", tool_calls=(ToolCallDelta(0, arguments='{"city":'),)),
        StreamDelta("", tool_calls=(ToolCallDelta(0, arguments='"Oslo"}'),)),
        StreamDelta("", tool_calls=(ToolCallDelta(1, id="toolu_2", name="get_time", arguments="{}"),)),
        end=Choice(text="Let me look.", finish_reason="tool_calls", tool_calls=CALLS),
    )
    assert kinds == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[1].input == {"city": "Oslo"} and message.content[2].input == {}
    assert message.content[2].id == "toolu_2" and message.content[2].name == "get_time"
    assert message.stop_reason == "tool_use"


def test_an_empty_answer_has_no_blocks_and_a_refusal_is_marked():
    kinds, message = _stream(end=Choice(finish_reason="length"))
    assert kinds == ["message_start", "ping", "message_delta", "message_stop"]
    assert message.content == [] and message.stop_reason == "max_tokens"
    _kinds, refused = _stream(StreamDelta("", refusal="No."), end=Choice(refusal="No.", finish_reason="stop"))
    assert refused.content[0].text == "No." and refused.stop_reason == "refusal"


# --- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "status", "error_type"),
    [
        (InvalidRequest("bad", field="messages[0].content"), 400, "invalid_request_error"),
        (AuthenticationFailed(), 401, "authentication_error"),
        (PermissionDenied(), 403, "permission_error"),
        (ModelNotFound(), 404, "not_found_error"),
        (PayloadTooLarge(), 413, "request_too_large"),
        (UnsupportedMediaType(), 415, "invalid_request_error"),
        (UpstreamRateLimited(retry_after=2), 429, "rate_limit_error"),
        (BudgetExceeded(limit="budget_usd_day"), 429, "rate_limit_error"),
        (UpstreamServerError(upstream_status=529), 529, "overloaded_error"),
        (UpstreamServerError(upstream_status=503), 529, "overloaded_error"),
        (CircuitOpen(), 529, "overloaded_error"),
        (UpstreamServerError(upstream_status=500), 500, "api_error"),
        (UpstreamAuthError(), 500, "api_error"),
        (UpstreamTimeout(), 504, "timeout_error"),
        (RuntimeError("boom"), 500, "api_error"),
    ],
)
def test_errors_in_anthropics_shape_and_statuses(exc, status, error_type):
    assert anthropic_status(exc) == (status, error_type)
    reply = anthropic_error_reply(exc, "rid-1")
    MESSAGES_ERROR.check(reply.data)
    assert reply.status == status
    assert reply.data["type"] == "error" and reply.data["error"]["type"] == error_type
    assert reply.data["request_id"] == "rid-1" and reply.headers["x-request-id"] == "rid-1"
    if status == 429 and isinstance(exc, UpstreamRateLimited):
        assert reply.headers["Retry-After"] == "2"
    if isinstance(exc, InvalidRequest):
        assert reply.data["error"]["message"] == "messages[0].content: bad"
    if isinstance(exc, RuntimeError):
        assert reply.data["error"]["message"] == "Internal error."
