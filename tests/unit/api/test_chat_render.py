"""Answers rendered in OpenAI's shapes and the native shape: every field of a choice (tool
calls, refusal, logprobs, the choices of `n`), usage with cached and reasoning tokens, and
stream chunks — each checked against its declaration, and the chunks folded by the openai
SDK's own stream accumulator into the answer they stand for."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from completions_app.api import declarations as v1
from completions_app.api.chat_render import ChunkRenderer, openai_json
from completions_app.api.native import _native_sse, native_json
from completions_app.api.shapes import ShapeError, UnknownFields
from completions_app.services.types import CompletionResult, StreamDelta, StreamEnd
from providers_app.adapters.types import Choice, ToolCall, ToolCallDelta, Usage

LOGPROBS = {"content": [{"token": "hi", "logprob": -0.1, "bytes": [104, 105],
                         "top_logprobs": [{"token": "hi", "logprob": -0.1, "bytes": [104, 105]}]}], "refusal": None}  # fmt: skip
CALLS = (ToolCall("call_1", "get_weather", '{"city":"Oslo"}'), ToolCall("call_2", "get_time", "{}"))


def _result(*choices: Choice, usage: Usage | None = None) -> CompletionResult:
    return CompletionResult(
        request_id="r1", model="m", served_model="m", provider="oa",
        choices=list(choices) or [Choice(text="hi", finish_reason="stop")],
        usage=usage or Usage(input_tokens=3, output_tokens=9, cache_read_tokens=4, cache_write_tokens=1,
                             reasoning_tokens=6),
        cost_usd=Decimal("0.0001"), cached=False, latency_ms=1.5,
    )  # fmt: skip


def _checked(data: dict) -> dict:
    v1.CHAT_RESPONSE.check(data)
    ChatCompletion.model_validate(data)  # as the openai SDK reads it
    return data


def test_plain_answer_and_usage_with_cached_and_reasoning_tokens():
    data = _checked(openai_json(_result()))
    assert data["choices"] == [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                "message": {"role": "assistant", "content": "hi", "refusal": None}}]  # fmt: skip
    assert data["usage"] == {
        "prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 6},
    }  # fmt: skip


def test_tool_calls_answer_has_null_content():
    data = _checked(openai_json(_result(Choice(tool_calls=CALLS, finish_reason="tool_calls"))))
    [choice] = data["choices"]
    assert choice["message"] == {
        "role": "assistant", "content": None, "refusal": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }  # fmt: skip
    assert choice["finish_reason"] == "tool_calls"
    # Text beside tool calls stays; a missing finish reason of a tool-call answer is tool_calls.
    data = _checked(openai_json(_result(Choice(text="Let me look.", tool_calls=CALLS[:1]))))
    assert (data["choices"][0]["message"]["content"], data["choices"][0]["finish_reason"]) == (
        "Let me look.",
        "tool_calls",
    )


def test_refusal_logprobs_and_several_choices():
    data = _checked(openai_json(_result(
        Choice(text="hi", finish_reason="stop", logprobs=LOGPROBS),
        Choice(refusal="I can't help with that.", finish_reason="stop", index=1),
        Choice(text="", finish_reason="length", index=2),
    )))  # fmt: skip
    first, second, third = data["choices"]
    assert (first["index"], first["logprobs"]) == (0, LOGPROBS)
    assert second["index"] == 1 and second["message"]["content"] is None
    assert second["message"]["refusal"] == "I can't help with that."
    assert (third["index"], third["message"]["content"], third["finish_reason"]) == (2, "", "length")


# --- streams ------------------------------------------------------------------------------------
def _chunks(render: ChunkRenderer, events: list) -> list[dict]:
    out = []
    for event in events:
        for raw in render(event):
            chunk = json.loads(raw.decode().removeprefix("data: "))
            v1.CHAT_CHUNK.check(chunk)
            out.append(chunk)
    return out


def _folded(chunks: list[dict]) -> Any:
    """The answer the openai SDK assembles from the chunks (its stream helper's accumulator;
    the snapshot, as get_final_completion raises on a `length` finish)."""
    state = ChatCompletionStreamState()
    for chunk in chunks:
        if chunk["choices"]:
            state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.current_completion_snapshot


def test_plain_stream_is_as_before():
    end = StreamEnd(_result(Choice(text="a b", finish_reason="stop")))
    chunks = _chunks(ChunkRenderer("r1", "m", include_usage=True), [StreamDelta("a "), StreamDelta("b"), end])
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "a "}, {"content": "b"}, {}, None,
    ]  # fmt: skip
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 6}
    assert all(c["usage"] is None for c in chunks[:-1])


def test_streamed_tool_calls_in_openai_chunk_shape():
    events = [
        StreamDelta("", tool_calls=(ToolCallDelta(0, "call_1", "get_weather", ""),)),
        StreamDelta("", tool_calls=(ToolCallDelta(0, None, None, '{"city":'),)),
        StreamDelta("", tool_calls=(ToolCallDelta(0, None, None, '"Oslo"}'), ToolCallDelta(1, "call_2", "get_time", "{}"))),
        StreamEnd(_result(Choice(tool_calls=CALLS, finish_reason="tool_calls"))),
    ]  # fmt: skip
    chunks = _chunks(ChunkRenderer("r1", "m", include_usage=False), events)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                         "function": {"name": "get_weather", "arguments": ""}}]}  # fmt: skip
    assert deltas[2] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": None}
    message = _folded(chunks).choices[0].message
    assert [(t.id, t.function.name, t.function.arguments) for t in message.tool_calls] == [
        ("call_1", "get_weather", '{"city":"Oslo"}'), ("call_2", "get_time", "{}"),
    ]  # fmt: skip


def test_several_choices_each_start_with_the_role_and_end_with_a_finish():
    events = [
        StreamDelta("a"),
        StreamDelta("b", index=1),
        StreamDelta("c", index=1, finish_reason="length"),
        StreamDelta("", index=2, refusal="no"),
        StreamDelta("!", logprobs=LOGPROBS),
        StreamEnd(_result(
            Choice(text="a!", finish_reason="stop"), Choice(text="bc", finish_reason="length", index=1),
            Choice(refusal="no", finish_reason="stop", index=2),
        )),
    ]  # fmt: skip
    chunks = _chunks(ChunkRenderer("r1", "m", include_usage=False), events)
    by_choice: dict[int, list[dict]] = {}
    for c in chunks:
        by_choice.setdefault(c["choices"][0]["index"], []).append(c["choices"][0])
    for index, pieces in by_choice.items():
        assert pieces[0]["delta"].get("role") == "assistant", index
        assert [p["finish_reason"] for p in pieces if p["finish_reason"]] == [pieces[-1]["finish_reason"]]
    assert [p["finish_reason"] for p in (by_choice[0][-1], by_choice[1][-1], by_choice[2][-1])] == [
        "stop", "length", "stop"
    ]  # fmt: skip
    assert any(p["logprobs"] == LOGPROBS for p in by_choice[0])
    folded = _folded(chunks)
    assert [(c.message.content, c.finish_reason) for c in folded.choices[:2]] == [("a!", "stop"), ("bc", "length")]
    assert folded.choices[2].message.refusal == "no"


# --- native ----------------------------------------------------------------------------------------
def test_native_answer_has_tool_calls_and_refusal():
    data = native_json(_result(Choice(tool_calls=CALLS, finish_reason="tool_calls")))
    v1.COMPLETE_RESPONSE.check(data)
    assert data["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"id": "call_2", "name": "get_time", "arguments": "{}"},
    ]
    assert (data["refusal"], data["finish_reason"], data["usage"]["reasoning_tokens"]) == (None, "tool_calls", 6)
    plain = native_json(_result())
    v1.COMPLETE_RESPONSE.check(plain)
    assert (plain["tool_calls"], plain["refusal"], plain["text"]) == ([], None, "hi")
    refused = native_json(_result(Choice(refusal="no", finish_reason="stop")))
    assert refused["refusal"] == "no"


def test_native_stream_events():
    events = [
        StreamDelta("Looking. "),
        StreamDelta("", tool_calls=(ToolCallDelta(0, "call_1", "get_weather", '{"ci'),)),
        StreamDelta("", tool_calls=(ToolCallDelta(0, None, "ignored", 'ty":"Oslo"}'),)),
        StreamDelta("", refusal="no"),
        StreamEnd(_result(Choice(text="Looking. ", tool_calls=CALLS[:1], finish_reason="tool_calls"))),
    ]
    out = [json.loads(raw.decode().removeprefix("data: ")) for e in events for raw in _native_sse(e)]
    for event in out:
        v1.COMPLETE_EVENT.check(event)
    assert out[:4] == [
        {"type": "delta", "text": "Looking. "},
        {"type": "tool_call", "index": 0, "id": "call_1", "name": "get_weather", "arguments": '{"ci'},
        {"type": "tool_call", "index": 0, "id": None, "name": None, "arguments": 'ty":"Oslo"}'},
        {"type": "refusal", "text": "no"},
    ]
    assert out[4]["type"] == "done" and out[4]["tool_calls"][0]["id"] == "call_1"


def test_the_answer_declarations_are_exact():
    # The checks above would pass anything if the declarations let undeclared fields through.
    data = openai_json(_result())
    with pytest.raises(UnknownFields):
        v1.CHAT_RESPONSE.check({**data, "choices": [{**data["choices"][0], "extra": 1}]})
    with pytest.raises(ShapeError):
        v1.CHAT_RESPONSE.check({**data, "choices": [{**data["choices"][0], "message": {"role": "assistant"}}]})
