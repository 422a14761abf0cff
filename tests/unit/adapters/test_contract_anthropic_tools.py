"""The contract with the `anthropic` SDK beyond plain text: for a request with tools,
tool_choice, images, tool turns and output_config, the adapter puts on the wire the body the
SDK sends for the equivalent `messages.create`; and the SDK itself parses the fake's tool
answers (so the fake speaks the real format), streamed and not.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

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
from tests.fakes.server import FakeUpstream

from .support import API_KEY, build_adapter, collect
from .test_contract import _seen

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ANSWER_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}}

REQUEST = ChatRequest(
    model="fake-small",
    messages=(
        Message("system", "Be brief."),
        Message(
            "user",
            "look at these",
            parts=(
                TextPart("look at these"),
                ImagePart(url=f"data:image/png;base64,{PNG}", media_type="image/png", data=PNG),
                ImagePart(url="https://example.com/cat.jpg"),
            ),
        ),
        Message("assistant", "Checking.", tool_calls=(ToolCall("toolu_a", "get_weather", '{"city": "Oslo"}'),)),
        Message("tool", "rain", tool_call_id="toolu_a"),
        Message("user", "summarise"),
    ),
    max_tokens=50,
    stop=("END",),
    user="client-7",
    options=ChatOptions(
        tools=(Tool("get_weather", "Weather by city.", WEATHER_SCHEMA, strict=True), Tool("ping")),
        tool_choice=ToolChoice("function", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", name="answer", schema=ANSWER_SCHEMA, strict=True),
        reasoning_effort="high",
    ),
)

SDK_KWARGS: dict[str, Any] = {
    "model": "fake-small",
    "system": "Be brief.",
    "max_tokens": 50,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "client-7"},
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look at these"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "rain"},
                {"type": "text", "text": "summarise"},
            ],
        },
    ],
    "tools": [
        {"name": "get_weather", "description": "Weather by city.", "input_schema": WEATHER_SCHEMA, "strict": True},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ],
    "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}, "effort": "high"},
}


@pytest.fixture
async def sdk(fake: FakeUpstream):
    client = anthropic.AsyncAnthropic(base_url=fake.anthropic_base_url, api_key=API_KEY, max_retries=0)
    yield client
    await client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_the_adapter_sends_what_the_sdk_sends(fake, adapters, sdk, stream):
    if stream:
        async for _ in await sdk.messages.create(**SDK_KWARGS, stream=True):
            pass
    else:
        await sdk.messages.create(**SDK_KWARGS)
    expected = _seen(fake)

    adapter = build_adapter("anthropic", fake.anthropic_base_url)
    adapters.append(adapter)
    if stream:
        await collect(adapter, REQUEST)
    else:
        await adapter.complete(REQUEST)

    assert _seen(fake) == expected


TOOLS = [
    {"name": "get_weather", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}},
]


async def test_the_sdk_parses_the_fakes_tool_answers(sdk):
    ask = [{"role": "user", "content": "parallel Oslo"}]
    message = await sdk.messages.create(model="fake-small", max_tokens=100, messages=ask, tools=TOOLS)
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "get_weather", {"city": "parallel Oslo"}),
        ("tool_use", "get_time", {"zone": "parallel Oslo"}),
    ]

    async with sdk.messages.stream(model="fake-small", max_tokens=100, messages=ask, tools=TOOLS) as stream:
        partial = [e.partial_json async for e in stream if e.type == "input_json"]
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    # The SDK assembled each tool_use input from the input_json_delta fragments.
    assert [(b.name, b.input) for b in final.content] == [(b.name, b.input) for b in message.content]
    assert "".join(partial) == json.dumps({"city": "parallel Oslo"}) + json.dumps({"zone": "parallel Oslo"})

    results = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(include={"type", "id", "name", "input"}) for b in message.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": b.id, "content": f"r{i}"} for i, b in enumerate(message.content)],
        },
    ]  # fmt: skip
    after = await sdk.messages.create(model="fake-small", max_tokens=100, messages=results, tools=TOOLS)
    assert (after.stop_reason, after.content[0].text) == ("end_turn", "tools said: r0 | r1")


async def test_the_sdk_parses_the_fakes_structured_output(sdk):
    message = await sdk.messages.create(
        model="fake-small",
        max_tokens=100,
        messages=[{"role": "user", "content": "Oslo"}],
        output_config={"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    )
    assert json.loads(message.content[0].text) == {"summary": "Oslo"}
