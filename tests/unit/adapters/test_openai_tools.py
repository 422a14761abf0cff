"""OpenAIAdapter beyond text, against the fake Chat Completions API, streamed and not: tool
calls and the tool loop, JSON output, images, n choices, logprobs, reasoning tokens, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers_app.adapters.openai import OpenAIAdapter, StreamState, completion_from
from providers_app.adapters.types import (
    ChatOptions,
    ChatRequest,
    Choice,
    ImagePart,
    Message,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import UpstreamConnectionError, UpstreamMalformedResponse

from .support import API_KEY, collect

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = Tool(name="get_time", parameters={"type": "object", "properties": {"zone": {"type": "string"}}})
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture
async def adapter(fake):
    a = OpenAIAdapter(base_url=fake.openai_base_url, api_key=API_KEY, timeout_s=5)
    yield a
    await a.aclose()


def ask(*messages: Message, **options: Any) -> ChatRequest:
    return ChatRequest(model="fake-small", messages=messages, options=ChatOptions(**options) if options else None)


async def answer(adapter: OpenAIAdapter, request: ChatRequest, *, stream: bool) -> tuple[list[Choice], Any]:
    """The choices and usage of an answer, streamed or not (streamed pieces folded here)."""
    if not stream:
        result = await adapter.complete(request)
        return result.choices, result.usage
    chunks = await collect(adapter, request)
    return fold(chunks), chunks[-1].usage


def fold(chunks: list[StreamChunk]) -> list[Choice]:
    choices: dict[int, Choice] = {}
    calls: dict[tuple[int, int], dict[str, Any]] = {}
    for c in chunks[:-1]:
        assert c.usage is None
        choice = choices.setdefault(c.index, Choice(index=c.index))
        choice.text += c.text
        if c.refusal:
            choice.refusal = (choice.refusal or "") + c.refusal
        if c.logprobs is not None:
            choice.logprobs = (choice.logprobs or []) + (c.logprobs["content"] or c.logprobs["refusal"] or [])
        if c.finish_reason:
            assert c.index != 0, "choice 0's finish_reason comes on the final chunk"
            choice.finish_reason = c.finish_reason
        for d in c.tool_calls:
            call = calls.setdefault((c.index, d.index), {"id": None, "name": None, "arguments": ""})
            if d.id is not None:
                assert call["id"] is None, "a call's id comes once, on its first delta"
                call["id"], call["name"] = d.id, d.name
            call["arguments"] += d.arguments
    choices.setdefault(0, Choice()).finish_reason = chunks[-1].finish_reason
    for (i, _), call in sorted(calls.items()):
        choices[i].tool_calls += (ToolCall(**call),)
    return [choices[i] for i in sorted(choices)]


STREAMED = pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])


@STREAMED
async def test_a_tool_call(adapter, fake, stream):
    choices, _ = await answer(adapter, ask(Message("user", "weather in Paris"), tools=(WEATHER,)), stream=stream)

    assert fake.requests[-1].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    [choice] = choices
    assert (choice.text, choice.finish_reason) == ("", "tool_calls")
    [call] = choice.tool_calls
    assert call.id.startswith("call_")
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "weather in Paris"}


async def test_streamed_arguments_arrive_in_fragments(adapter, fake):
    chunks = await collect(adapter, ask(Message("user", "weather in Paris"), tools=(WEATHER,)))
    deltas = [d for c in chunks for d in c.tool_calls]
    assert len(deltas) == 4  # the call's head, then the fake's 3 fragments
    assert (deltas[0].name, deltas[0].arguments) == ("get_weather", "")
    assert all(d.id is None and d.name is None and d.arguments for d in deltas[1:])


@STREAMED
async def test_the_tool_loop_second_turn(adapter, fake, stream):
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    request = ask(
        Message("user", "weather in Paris"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "18C and sunny", tool_call_id="call_1"),
        tools=(WEATHER,),
    )
    choices, _ = await answer(adapter, request, stream=stream)

    assert fake.requests[-1].json["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "18C and sunny", "tool_call_id": "call_1"},
    ]
    assert choices[0].text == "tools said: 18C and sunny"
    assert choices[0].finish_reason == "stop"
    assert choices[0].tool_calls == ()


@STREAMED
async def test_parallel_calls(adapter, fake, stream):
    request = ask(Message("user", "both in parallel"), tools=(WEATHER, TIME), parallel_tool_calls=True)
    choices, _ = await answer(adapter, request, stream=stream)

    assert fake.requests[-1].json["parallel_tool_calls"] is True
    calls = choices[0].tool_calls
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    assert [json.loads(c.arguments) for c in calls] == [{"city": "both in parallel"}, {"zone": "both in parallel"}]


@STREAMED
async def test_a_named_tool_choice(adapter, fake, stream):
    request = ask(Message("user", "what time"), tools=(WEATHER, TIME), tool_choice=ToolChoice("function", "get_time"))
    choices, _ = await answer(adapter, request, stream=stream)

    assert fake.requests[-1].json["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert [c.name for c in choices[0].tool_calls] == ["get_time"]


@STREAMED
async def test_json_schema(adapter, fake, stream):
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    fmt = ResponseFormat("json_schema", name="book", schema=schema, strict=True)
    choices, _ = await answer(adapter, ask(Message("user", "name a book"), response_format=fmt), stream=stream)

    assert fake.requests[-1].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "book", "schema": schema, "strict": True},
    }
    assert json.loads(choices[0].text) == {"title": "name a book"}


@STREAMED
async def test_an_image_part(adapter, fake, stream):
    parts = (TextPart("what is this"), ImagePart(url=PNG, media_type="image/png", data=PNG[22:], detail="low"))
    choices, _ = await answer(adapter, ask(Message("user", "what is this", parts=parts)), stream=stream)

    assert fake.requests[-1].json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            ],
        }
    ]
    assert choices[0].text.startswith("images=1 ")


@STREAMED
async def test_n_choices(adapter, fake, stream):
    choices, usage = await answer(adapter, ask(Message("user", "two of these"), n=2), stream=stream)

    assert fake.requests[-1].json["n"] == 2
    assert [(c.index, c.text, c.finish_reason) for c in choices] == [
        (0, "two of these", "stop"),
        (1, "two of these", "stop"),
    ]
    assert usage.output_tokens == 6  # both choices


async def test_a_streamed_second_choice_ends_on_its_own_chunk(adapter, fake):
    chunks = await collect(adapter, ask(Message("user", "two of these"), n=2))
    ends = [c for c in chunks if c.finish_reason]
    assert [(c.index, c.finish_reason, c.usage is None) for c in ends] == [(1, "stop", True), (0, "stop", False)]
    assert ends[-1] is chunks[-1]


@STREAMED
async def test_logprobs(adapter, fake, stream):
    request = ask(Message("user", "alpha beta gamma"), logprobs=True, top_logprobs=2)
    choices, _ = await answer(adapter, request, stream=stream)

    sent = fake.requests[-1].json
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    tokens = choices[0].logprobs if stream else choices[0].logprobs["content"]
    assert "".join(t["token"] for t in tokens) == "alpha beta gamma"
    assert all(len(t["top_logprobs"]) == 2 and t["logprob"] < 0 for t in tokens)


@STREAMED
async def test_reasoning_tokens_are_in_usage(adapter, fake, stream):
    _, usage = await answer(adapter, ask(Message("user", "think it over"), reasoning_effort="low"), stream=stream)

    assert fake.requests[-1].json["reasoning_effort"] == "low"
    assert (usage.output_tokens, usage.reasoning_tokens) == (3 + 2, 2)  # completion_tokens include reasoning


@STREAMED
async def test_a_refusal(adapter, fake, stream):
    choices, _ = await answer(adapter, ask(Message("user", "I want you to refuse")), stream=stream)
    assert (choices[0].text, choices[0].refusal) == ("", "I want you to refuse")
    assert choices[0].finish_reason == "stop"


async def test_a_message_name_and_the_plain_options(adapter, fake):
    request = ask(
        Message("user", "hello there", name="alice"),
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"50256": -100},
        metadata={"run": "r1"},
        tool_choice=ToolChoice("none"),
        response_format=ResponseFormat("text"),
    )
    await adapter.complete(request)
    sent = fake.requests[-1].json
    assert sent["messages"] == [{"role": "user", "content": "hello there", "name": "alice"}]
    assert {k: v for k, v in sent.items() if k not in ("model", "messages")} == {
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "metadata": {"run": "r1"},
        "tool_choice": "none",
        "response_format": {"type": "text"},
    }


def test_the_openai_kind_refuses_nothing():
    request = ask(Message("user", "x"), tools=(WEATHER,), n=3, logprobs=True, top_logprobs=5, reasoning_effort="high")
    assert OpenAIAdapter.refusal(request) is None


# --- shapes the fake does not send ---------------------------------------------------------
@pytest.mark.parametrize(
    "choices",
    [
        [{"index": 0, "message": {"content": None, "tool_calls": [{"id": "c", "type": "function"}]}}],
        [{"index": 0, "message": {"content": None, "tool_calls": [{"id": 7, "function": {"name": "f"}}]}}],
        [{"index": 0, "message": {"content": "a"}}, "not a choice"],
        [{"index": "0", "message": {"content": "a"}}],
    ],
    ids=["call-without-function", "id-not-a-string", "second-choice", "index-not-an-int"],
)
def test_malformed_choices_raise(choices):
    with pytest.raises(UpstreamMalformedResponse):
        completion_from({"id": "x", "choices": choices})


def test_a_chunk_with_two_choices_gives_two_pieces():
    state = StreamState()
    pieces = state.chunks_for(
        {
            "id": "x",
            "choices": [
                {"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                {"index": 1, "delta": {"content": "b"}, "finish_reason": "length"},
            ],
        }
    )
    assert [(p.index, p.text, p.finish_reason) for p in pieces] == [(0, "a", None), (1, "b", "length")]


def test_a_stream_where_only_another_choice_finished_was_cut_short():
    state = StreamState()
    state.chunks_for({"id": "x", "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]})
    state.chunks_for({"id": "x", "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]})
    with pytest.raises(UpstreamConnectionError):
        state.final_chunk()


def test_a_tool_call_delta_of_the_wrong_shape_raises():
    state = StreamState()
    with pytest.raises(TypeError):  # classified as UpstreamMalformedResponse by the adapter
        state.chunks_for({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "0"}]}}]})
