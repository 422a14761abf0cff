"""OllamaAdapter past plain text, against the fake /api/chat: tools and tool turns, JSON output,
images, the rarer options, and what Ollama cannot honour (refused by name, before any call)."""

from __future__ import annotations

import json

import ollama
import pytest

from providers_app.adapters.ollama import OllamaAdapter, completion_from
from providers_app.adapters.types import (
    ChatOptions,
    ChatRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from providers_app.errors import InvalidRequest
from tests.fakes.behaviour import Behaviour

from .support import collect

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "A city"}},
    "required": ["city"],
}
WEATHER = Tool("get_weather", "The weather now", WEATHER_SCHEMA)
CLOCK = Tool("get_time", None, {"type": "object", "properties": {"zone": {"type": "string"}}})
PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}


@pytest.fixture
async def adapter(fake, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    a = OllamaAdapter(base_url=fake.ollama_base_url, api_key=None, timeout_s=5)
    yield a
    await a.aclose()


def ask(*messages: Message, **options: object) -> ChatRequest:
    return ChatRequest(model="fake-small", messages=messages, options=ChatOptions(**options))  # type: ignore[arg-type]


def user(text: str) -> Message:
    return Message("user", text)


def tool_loop() -> tuple[Message, ...]:
    """A call the client made and ran: the next answer should show its result."""
    call = ToolCall(id="call_abc", name="get_weather", arguments='{"city": "Paris"}')
    return (
        user("weather in Paris"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "sunny 21C", tool_call_id="call_abc"),
    )


# --- tools ------------------------------------------------------------------------------------
async def test_a_tool_call(adapter, fake):
    result = await adapter.complete(ask(user("weather in Paris"), tools=(WEATHER, CLOCK)))

    body = fake.requests[-1].json
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "The weather now", "parameters": WEATHER_SCHEMA},
        },
        {"type": "function", "function": {"name": "get_time", "parameters": CLOCK.parameters}},
    ]
    assert "tool_choice" not in body  # Ollama has none
    (call,) = result.choices[0].tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "weather in Paris"}  # an object on the wire, JSON text here
    assert call.id.startswith("call_0_")  # Ollama sent none: made here
    assert result.finish_reason == "tool_calls"  # Ollama said "stop"
    assert result.text == ""


async def test_a_tool_call_streamed_whole(adapter, fake):
    chunks = await collect(adapter, ask(user("weather in Paris"), tools=(WEATHER,)))

    deltas = [d for c in chunks for d in c.tool_calls]
    assert len(deltas) == 1  # Ollama sends a call whole: one delta with everything
    (delta,) = deltas
    assert (delta.index, delta.name) == (0, "get_weather")
    assert delta.id and delta.id.startswith("call_0_")
    assert json.loads(delta.arguments) == {"city": "weather in Paris"}
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens > 0


async def test_parallel_calls_are_numbered_across_the_answer(adapter, fake):
    request = ask(user("parallel please"), tools=(WEATHER, CLOCK), parallel_tool_calls=True)
    result = await adapter.complete(request)
    chunks = await collect(adapter, request)

    assert [c.name for c in result.choices[0].tool_calls] == ["get_weather", "get_time"]
    deltas = [d for c in chunks for d in c.tool_calls]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_weather"), (1, "get_time")]
    # The same calls get the same ids, streamed or not (a cached answer replays them).
    assert [d.id for d in deltas] == [c.id for c in result.choices[0].tool_calls]
    assert len({d.id for d in deltas}) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_two_turn_tool_loop(adapter, fake, stream):
    request = ask(*tool_loop(), tools=(WEATHER,))
    if stream:
        chunks = await collect(adapter, request)
        text, finish = "".join(c.text for c in chunks), chunks[-1].finish_reason
    else:
        result = await adapter.complete(request)
        text, finish = result.text, result.finish_reason

    messages = fake.requests[-1].json["messages"]
    assert messages[1] == {
        "role": "assistant",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }
    # Ollama matches a result to its call by the function's name: found from the call's id.
    assert messages[2] == {"role": "tool", "content": "sunny 21C", "tool_name": "get_weather"}
    assert text == "tools said: sunny 21C"
    assert finish == "stop"


async def test_tool_choice_none_sends_no_tools(adapter, fake):
    result = await adapter.complete(ask(user("just talk"), tools=(WEATHER,), tool_choice=ToolChoice("none")))
    assert "tools" not in fake.requests[-1].json
    assert result.text == "just talk"
    assert result.choices[0].tool_calls == ()


async def test_tool_choice_auto_is_ollamas_own(adapter, fake):
    result = await adapter.complete(ask(user("weather now"), tools=(WEATHER,), tool_choice=ToolChoice("auto")))
    assert len(fake.requests[-1].json["tools"]) == 1
    assert result.finish_reason == "tool_calls"


# --- JSON output ------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_json_schema_is_format(adapter, fake, stream):
    request = ask(user("Ada Lovelace"), response_format=ResponseFormat("json_schema", name="person", schema=PERSON))
    if stream:
        text = "".join(c.text for c in await collect(adapter, request))
    else:
        text = (await adapter.complete(request)).text
    assert fake.requests[-1].json["format"] == PERSON
    assert json.loads(text) == {"name": "Ada Lovelace"}


async def test_json_object_is_format_json(adapter, fake):
    result = await adapter.complete(ask(user("Ada"), response_format=ResponseFormat("json_object")))
    assert fake.requests[-1].json["format"] == "json"
    assert json.loads(result.text) == {"answer": "Ada"}


async def test_response_format_text_sends_nothing(adapter, fake):
    result = await adapter.complete(ask(user("plain words"), response_format=ResponseFormat("text")))
    assert "format" not in fake.requests[-1].json
    assert result.text == "plain words"


# --- images -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_an_image_goes_as_base64(adapter, fake, stream):
    parts = (
        TextPart("what is this"),
        ImagePart(url=f"data:image/png;base64,{PNG}", media_type="image/png", data=PNG),
    )
    request = ChatRequest(model="fake-small", messages=(Message("user", "what is this", parts=parts),))
    if stream:
        text = "".join(c.text for c in await collect(adapter, request))
    else:
        text = (await adapter.complete(request)).text

    assert fake.requests[-1].json["messages"] == [{"role": "user", "content": "what is this", "images": [PNG]}]
    assert text.startswith("images=1")


# --- options ----------------------------------------------------------------------------------
async def test_seed_penalties_and_think(adapter, fake):
    request = ChatRequest(
        model="fake-small",
        messages=(user("one two"),),
        max_tokens=9,
        options=ChatOptions(seed=42, presence_penalty=0.5, frequency_penalty=0.25, reasoning_effort="low", n=1),
    )
    await adapter.complete(request)
    body = fake.requests[-1].json
    assert body["options"] == {"num_predict": 9, "seed": 42, "presence_penalty": 0.5, "frequency_penalty": 0.25}
    assert body["think"] == "low"


async def test_logprobs(adapter, fake):
    request = ask(user("one two three"), logprobs=True, top_logprobs=2)
    result = await adapter.complete(request)
    body = fake.requests[-1].json
    assert (body["logprobs"], body["top_logprobs"]) == (True, 2)
    content = result.choices[0].logprobs["content"]
    assert "".join(t["token"] for t in content) == "one two three"
    assert content[0]["top_logprobs"][0] == {"token": "one", "logprob": -0.25, "bytes": list(b"one")}
    assert len(content[0]["top_logprobs"]) == 2

    fake.script(Behaviour.ok(chunks=3))
    chunks = await collect(adapter, request)
    streamed = [t["token"] for c in chunks if c.logprobs for t in c.logprobs["content"]]
    assert "".join(streamed) == "one two three"


# --- what Ollama cannot honour ------------------------------------------------------------------
REFUSED = {
    "http image": (
        ChatRequest(
            model="m",
            messages=(Message("user", "look", parts=(TextPart("look"), ImagePart(url="https://example.com/cat.png"))),),
        ),
        "messages[0].content[1].image_url.url",
    ),
    "image detail": (
        ChatRequest(
            model="m",
            messages=(
                Message("user", "", parts=(ImagePart(url="data:image/png;base64," + PNG, data=PNG, detail="high"),)),
            ),
        ),
        "messages[0].content[0].image_url.detail",
    ),
    "n": (ask(user("hi"), n=2), "n"),
    "tool_choice required": (ask(user("hi"), tools=(WEATHER,), tool_choice=ToolChoice("required")), "tool_choice"),
    "tool_choice named": (
        ask(user("hi"), tools=(WEATHER,), tool_choice=ToolChoice("function", "get_weather")),
        "tool_choice",
    ),
    "parallel_tool_calls": (ask(user("hi"), tools=(WEATHER,), parallel_tool_calls=False), "parallel_tool_calls"),
    "strict tool": (
        ask(user("hi"), tools=(Tool("get_weather", None, WEATHER_SCHEMA, strict=True),)),
        "tools[0].function.strict",
    ),
    "logit_bias": (ask(user("hi"), logit_bias={"50256": -100.0}), "logit_bias"),
    "metadata": (ask(user("hi"), metadata={"team": "a"}), "metadata"),
    "reasoning_effort minimal": (ask(user("hi"), reasoning_effort="minimal"), "reasoning_effort"),
    "name": (ChatRequest(model="m", messages=(Message("user", "hi", name="ada"),)), "messages[0].name"),
    "arguments not an object": (
        ask(
            user("hi"),
            Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", "[1, 2]"),)),
            Message("tool", "ok", tool_call_id="call_1"),
            tools=(WEATHER,),
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
async def test_refused_by_name_before_any_call(adapter, fake, case):
    request, field = case
    refused = OllamaAdapter.refusal(request)
    assert isinstance(refused, InvalidRequest)
    assert refused.field == field
    if field.endswith("arguments"):  # not Ollama's limit: the client's text is no object
        assert "must be JSON text of an object" in refused.message
    else:
        assert f"Provider kind 'ollama' cannot honour {field}." in refused.message
    # The adapter itself refuses too (a plain-looking request is not checked by the router).
    with pytest.raises(InvalidRequest) as raised:
        await adapter.complete(request)
    assert raised.value.field == field
    with pytest.raises(InvalidRequest):
        await collect(adapter, request)
    assert fake.requests == []


@pytest.mark.parametrize(
    "options",
    [
        {"n": 1},
        {"tools": (WEATHER,), "tool_choice": ToolChoice("auto"), "parallel_tool_calls": True},
        {"logprobs": False},
        {"reasoning_effort": "high"},
        {"response_format": ResponseFormat("text")},
        # tool_choice "none" sends no tools: how they would be called does not matter.
        {
            "tools": (Tool("get_weather", None, WEATHER_SCHEMA, strict=True),),
            "tool_choice": ToolChoice("none"),
            "parallel_tool_calls": False,
        },
    ],
)
def test_what_ollama_honours_is_not_refused(options):
    assert OllamaAdapter.refusal(ask(user("hi"), **options)) is None


def test_a_tool_loop_is_not_refused():
    assert OllamaAdapter.refusal(ask(*tool_loop(), tools=(WEATHER,))) is None


# --- the answer's own shapes ------------------------------------------------------------------
def test_ollamas_own_call_id_is_kept():
    body = {
        "model": "m",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_x7", "function": {"index": 0, "name": "f", "arguments": {"a": "é"}}}],
        },
        "done": True,
        "done_reason": "stop",
    }
    (call,) = completion_from(body).choices[0].tool_calls
    assert (call.id, call.name, call.arguments) == ("call_x7", "f", '{"a": "é"}')


def test_thinking_is_not_the_answer():
    body = {
        "model": "m",
        "message": {"role": "assistant", "content": "42", "thinking": "six times seven"},
        "done": True,
        "done_reason": "stop",
    }
    assert completion_from(body).text == "42"


# --- the fake speaks Ollama: the official SDK reads its answers -------------------------------
async def test_the_sdk_reads_the_fakes_tool_calls(fake, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    client = ollama.AsyncClient(host=fake.ollama_base_url)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
    messages = [{"role": "user", "content": "weather in Paris"}]

    response = await client.chat(model="fake-small", messages=messages, tools=tools)
    (call,) = response.message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", {"city": "weather in Paris"})
    assert response.done_reason == "stop"

    calls = [
        c
        async for part in await client.chat(model="fake-small", messages=messages, tools=tools, stream=True)
        for c in part.message.tool_calls or ()
    ]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("get_weather", {"city": "weather in Paris"})]

    answered = [
        *messages,
        {"role": "assistant", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    response = await client.chat(model="fake-small", messages=answered, tools=tools)
    assert response.message.content == "tools said: sunny"


async def test_the_sdk_reads_the_fakes_json_images_and_logprobs(fake, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    client = ollama.AsyncClient(host=fake.ollama_base_url)
    response = await client.chat(
        model="fake-small", messages=[{"role": "user", "content": "Ada"}], format=PERSON, logprobs=True, top_logprobs=2
    )
    assert json.loads(response.message.content) == {"name": "Ada"}
    assert response.logprobs is not None and response.logprobs[0].top_logprobs[1].token == "alt1"

    parts = [
        p
        async for p in await client.chat(
            model="fake-small", messages=[{"role": "user", "content": "see", "images": [PNG]}], stream=True
        )
    ]
    assert "".join(p.message.content or "" for p in parts).startswith("images=1")
    assert parts[-1].done
