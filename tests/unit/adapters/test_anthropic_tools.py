"""AnthropicAdapter beyond plain text, against the fake Messages API: tools and tool turns,
JSON output (structured outputs, or a forced tool), images, and what it refuses by name."""

from __future__ import annotations

import json

import pytest

from providers_app.adapters.anthropic import AnthropicAdapter
from providers_app.adapters.anthropic_answer import StreamState
from providers_app.adapters.anthropic_request import JSON_OBJECT_TOOL
from providers_app.adapters.types import (
    ChatOptions,
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import InvalidRequest

from .support import API_KEY, chat, collect

WEATHER = Tool("get_weather", "The weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}})
TIME = Tool("get_time", None, {"type": "object", "properties": {"zone": {"type": "string"}}}, strict=True)
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture
async def adapter(fake):
    a = AnthropicAdapter(base_url=fake.anthropic_base_url, api_key=API_KEY, timeout_s=5)
    yield a
    await a.aclose()


def ask(text: str, *history: Message, **options: object) -> ChatRequest:
    return ChatRequest(model="claude-test", messages=(*history, Message("user", text)), options=ChatOptions(**options))  # type: ignore[arg-type]


def calls_of(chunks: list[StreamChunk]) -> list[dict[str, str]]:
    """Streamed tool-call deltas folded as an OpenAI client folds them, by index."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for d in chunk.tool_calls:
            call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += d.id or ""
            call["name"] += d.name or ""
            call["arguments"] += d.arguments
    return [calls[i] for i in sorted(calls)]


# --- tool calls ---------------------------------------------------------------------------
async def test_a_tool_call(adapter, fake):
    result = await adapter.complete(ask("Paris", tools=(WEATHER, TIME)))

    body = fake.requests[-1].json
    assert body["tools"] == [
        {"name": "get_weather", "description": "The weather in a city.", "input_schema": WEATHER.parameters},
        {"name": "get_time", "input_schema": TIME.parameters, "strict": True},
    ]
    assert "tool_choice" not in body
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.text == ""
    [call] = choice.tool_calls
    assert call.id.startswith("toolu_")
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})


async def test_a_streamed_tool_call(adapter, fake):
    chunks = await collect(adapter, ask("Paris", tools=(WEATHER,)))

    first = chunks[0].tool_calls[0]
    assert first.index == 0 and first.id.startswith("toolu_") and first.name == "get_weather"
    assert first.arguments == ""
    assert chunks[0].counted is not None  # message_start's counts ride on the first chunk
    assert all(not c.text for c in chunks)
    [call] = calls_of(chunks)
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert len([c for c in chunks if c.tool_calls]) > 2  # the arguments came in fragments
    assert (chunks[-1].finish_reason, chunks[-1].usage.input_tokens) == ("tool_calls", 1)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_two_parallel_calls(adapter, stream):
    request = ask("parallel please", tools=(WEATHER, TIME))
    if stream:
        calls = calls_of(await collect(adapter, request))
    else:
        answer = (await adapter.complete(request)).choices[0]
        calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in answer.tool_calls]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert [json.loads(c["arguments"]) for c in calls] == [{"city": "parallel please"}, {"zone": "parallel please"}]
    assert len({c["id"] for c in calls}) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_two_turn_tool_loop(adapter, fake, stream):
    first = await adapter.complete(ask("parallel weather", tools=(WEATHER, TIME)))
    calls = first.choices[0].tool_calls
    history = (
        Message("system", "Use the tools."),
        Message("user", "parallel weather"),
        Message("assistant", "", tool_calls=calls),
        Message("tool", "sunny", tool_call_id=calls[0].id),
        Message("tool", "noon", tool_call_id=calls[1].id),
    )
    second = ask("and so?", *history, tools=(WEATHER, TIME))
    if stream:
        chunks = await collect(adapter, second)
        text, finish = "".join(c.text for c in chunks), chunks[-1].finish_reason
    else:
        answer = (await adapter.complete(second)).choices[0]
        text, finish = answer.text, answer.finish_reason

    body = fake.requests[-1].json
    assert body["system"] == "Use the tools."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": json.loads(c.arguments)} for c in calls
    ]
    # Both results and the user's next words: ONE user turn.
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": calls[0].id, "content": "sunny"},
        {"type": "tool_result", "tool_use_id": calls[1].id, "content": "noon"},
        {"type": "text", "text": "and so?"},
    ]
    assert (text, finish) == ("tools said: sunny | noon", "stop")


async def test_assistant_text_with_calls_and_arguments_that_are_not_an_object(adapter, fake):
    call = ToolCall("toolu_1", "get_weather", "")
    history = (Message("user", "hi"), Message("assistant", "Let me look.", tool_calls=(call,)))
    await adapter.complete(ask("x", *history, Message("tool", "rain", tool_call_id="toolu_1"), tools=(WEATHER,)))
    assert fake.requests[-1].json["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},  # empty arguments: {}
    ]
    sent = len(fake.requests)
    bad = (Message("user", "hi"), Message("assistant", "", tool_calls=(ToolCall("toolu_1", "get_weather", "[1]"),)))
    with pytest.raises(InvalidRequest) as caught:
        await adapter.complete(ask("x", *bad, Message("tool", "r", tool_call_id="toolu_1"), tools=(WEATHER,)))
    assert caught.value.field == "messages[1].tool_calls[0].function.arguments"
    assert len(fake.requests) == sent  # nothing reached the upstream


async def test_a_tool_without_parameters_gets_an_empty_object_schema(adapter, fake):
    await adapter.complete(ask("hi", tools=(Tool("ping"),)))
    assert fake.requests[-1].json["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    ("choice", "parallel", "sent"),
    [
        (ToolChoice("auto"), None, {"type": "auto"}),
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("function", "get_time"), None, {"type": "tool", "name": "get_time"}),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, True, None),
    ],
)
async def test_tool_choice_mapping(adapter, fake, choice, parallel, sent):
    result = await adapter.complete(
        ask("Rome", tools=(WEATHER, TIME), tool_choice=choice, parallel_tool_calls=parallel)
    )
    assert fake.requests[-1].json.get("tool_choice") == sent
    names = [c.name for c in result.choices[0].tool_calls]
    assert names == {"none": [], "function": ["get_time"]}.get(choice.mode if choice else "", ["get_weather"])


# --- JSON output --------------------------------------------------------------------------
SCHEMA = ResponseFormat("json_schema", name="person", schema=PERSON, strict=True, description="A person.")


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_json_schema_as_structured_output(adapter, fake, stream):
    request = ask("Ada", response_format=SCHEMA, reasoning_effort="minimal")
    if stream:
        chunks = await collect(adapter, request)
        text, finish = "".join(c.text for c in chunks), chunks[-1].finish_reason
    else:
        answer = (await adapter.complete(request)).choices[0]
        text, finish = answer.text, answer.finish_reason
    body = fake.requests[-1].json
    assert body["output_config"] == {
        "format": {"type": "json_schema", "schema": {**PERSON, "description": "A person."}},
        "effort": "low",  # minimal -> low
    }
    assert "tools" not in body
    assert (json.loads(text), finish) == ({"name": "Ada"}, "stop")


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_json_schema_via_a_forced_tool(adapter, fake, stream):
    request = ask("Ada", response_format=SCHEMA, json_schema_via_tool=True)
    if stream:
        chunks = await collect(adapter, request)
        assert not any(c.tool_calls for c in chunks)
        assert len([c for c in chunks if c.text]) > 1  # input_json_delta fragments -> text deltas
        text, finish = "".join(c.text for c in chunks), chunks[-1].finish_reason
    else:
        answer = (await adapter.complete(request)).choices[0]
        assert answer.tool_calls == ()
        text, finish = answer.text, answer.finish_reason
    body = fake.requests[-1].json
    assert body["tools"] == [{"name": "person", "description": "A person.", "input_schema": PERSON}]
    assert body["tool_choice"] == {"type": "tool", "name": "person"}
    assert "output_config" not in body
    assert (json.loads(text), finish) == ({"name": "Ada"}, "stop")


async def test_json_object_is_a_forced_tool_of_any_object(adapter, fake):
    answer = (await adapter.complete(ask("Ada", response_format=ResponseFormat("json_object")))).choices[0]
    body = fake.requests[-1].json
    assert body["tools"] == [{"name": JSON_OBJECT_TOOL, "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_OBJECT_TOOL}
    assert (json.loads(answer.text), answer.finish_reason) == ({"input": "Ada"}, "stop")


# --- images -------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_images_by_data_url_and_https(adapter, fake, stream):
    parts = (
        TextPart("what is this?"),
        ImagePart(url=f"data:image/png;base64,{PNG}", media_type="image/png", data=PNG),
        ImagePart(url="https://example.com/cat.jpg", detail="auto"),
    )
    request = ChatRequest(model="claude-test", messages=(Message("user", "what is this?", parts=parts),))
    if stream:
        text = "".join(c.text for c in await collect(adapter, request))
    else:
        text = (await adapter.complete(request)).text
    assert fake.requests[-1].json["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    assert text == "images=2 what is this?"  # the fake saw two well-formed image blocks


# --- refused by name, before any call -----------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (ask("hi", n=2), "n"),
        (ask("hi", logprobs=True), "logprobs"),
        (ask("hi", logprobs=False, top_logprobs=2), "top_logprobs"),
        (ask("hi", logit_bias={"50256": -100.0}), "logit_bias"),
        (ask("hi", seed=7), "seed"),
        (ask("hi", presence_penalty=0.5), "presence_penalty"),
        (ask("hi", frequency_penalty=-0.5), "frequency_penalty"),
        (ask("hi", metadata={"k": "v"}), "metadata"),
        (ask("hi", tools=(WEATHER,), response_format=ResponseFormat("json_object")), "response_format"),
        (ask("hi", Message("user", "a", name="bob")), "messages[0].name"),
        (ask("hi", Message("user", "a"), Message("system", "late")), "messages[1].role"),
        # Plain text (no options): the same refusals, on the plain path.
        (ChatRequest(model="m", messages=(Message("user", "a"), Message("system", "b"))), "messages[1].role"),
        (ChatRequest(model="m", messages=(Message("user", "a", name="bob"),)), "messages[0].name"),
        (
            ChatRequest(
                model="m",
                messages=(Message("user", "x", parts=(TextPart("x"), ImagePart(url="http://example.com/a.png"))),),
            ),
            "messages[0].content[1].image_url.url",
        ),
        (
            ChatRequest(
                model="m",
                messages=(
                    Message("user", "x", parts=(TextPart("x"), ImagePart(url="https://x.test/a.png", detail="low"))),
                ),
            ),
            "messages[0].content[1].image_url.detail",
        ),
    ],
)
async def test_refused_by_name(adapter, fake, request_, field):
    refused = AnthropicAdapter.refusal(request_)
    assert isinstance(refused, InvalidRequest) and refused.field == field
    assert "anthropic" in refused.message
    for call in (adapter.complete(request_), collect(adapter, request_)):
        with pytest.raises(InvalidRequest) as caught:
            await call
        assert caught.value.field == field
    assert fake.requests == []  # nothing reached the upstream


async def test_a_late_system_message_says_where_system_messages_go(adapter):
    refused = AnthropicAdapter.refusal(ask("hi", Message("user", "a"), Message("system", "late")))
    assert "only at the start" in refused.message


async def test_defaults_that_change_nothing_are_honoured(adapter, fake):
    request = ask("hi", n=1, logprobs=False, presence_penalty=0.0, frequency_penalty=0.0, logit_bias={}, metadata={})
    assert AnthropicAdapter.refusal(request) is None
    assert (await adapter.complete(request)).text == "hi"
    assert set(fake.requests[-1].json) == {"model", "messages", "max_tokens"}


async def test_default_max_tokens(adapter, fake):
    await adapter.complete(chat())
    assert fake.requests[-1].json["max_tokens"] == 4096
    await adapter.complete(chat(max_tokens=300))
    assert fake.requests[-1].json["max_tokens"] == 300


def test_a_streamed_call_without_arguments_still_sends_json():
    # Anthropic may stream no input_json_delta text at all for a call with empty input.
    state = StreamState()
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "ping"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    chunks = [c for c in map(state.chunk_for, events) if c is not None] + [state.final_chunk()]
    assert chunks[0].text == "Checking."
    assert calls_of(chunks) == [{"id": "t1", "name": "ping", "arguments": "{}"}]
    assert chunks[1].tool_calls[0].index == 0  # its position among the tool_use blocks, not the content index
    assert (chunks[-1].finish_reason, chunks[-1].usage.output_tokens) == ("tool_calls", 5)
