"""The contract with the `openai` SDK beyond text: for a call with tools, tool turns, image
parts, JSON output and every sampling option, the adapter's JSON body is the SDK's own
(as in test_contract.py, which covers the text-only call and the headers)."""

from __future__ import annotations

from typing import Any

import openai
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

from .support import API_KEY, build_adapter, collect
from .test_contract import _seen

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
ARGS = '{"city": "Oslo"}'

# One call, as the gateway's model has it and as an SDK user writes it.
TOOLS_REQUEST = ChatRequest(
    model="fake-small",
    messages=(
        Message("system", "Use the tools."),
        Message(
            "user",
            "what is here",
            parts=(TextPart("what is here"), ImagePart(url=PNG, media_type="image/png", data=PNG[22:], detail="high")),
            name="alice",
        ),
        Message("assistant", "", tool_calls=(ToolCall("call_a", "get_weather", ARGS), ToolCall("call_b", "now", "{}"))),
        Message("tool", "sunny", tool_call_id="call_a"),
        Message("tool", "noon", tool_call_id="call_b"),
    ),
    max_tokens=50,
    temperature=0.0,
    options=ChatOptions(
        tools=(
            Tool("get_weather", "The weather in a city.", SCHEMA, strict=True),
            Tool("now", parameters={"type": "object", "properties": {}}),
        ),
        tool_choice=ToolChoice("function", "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat("json_schema", name="weather", schema=SCHEMA, strict=True, description="d"),
        seed=42,
        presence_penalty=0.25,
        frequency_penalty=-0.5,
        logit_bias={"1734": -100},
        n=2,
        logprobs=True,
        top_logprobs=3,
        metadata={"team": "search"},
        reasoning_effort="low",
    ),
)
TOOLS_KWARGS: dict[str, Any] = {
    "model": "fake-small",
    "messages": [
        {"role": "system", "content": "Use the tools."},
        {
            "role": "user",
            "name": "alice",
            "content": [
                {"type": "text", "text": "what is here"},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}},
                {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
    ],
    "max_tokens": 50,
    "temperature": 0.0,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city.",
                "parameters": SCHEMA,
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True, "description": "d"},
    },
    "seed": 42,
    "presence_penalty": 0.25,
    "frequency_penalty": -0.5,
    "logit_bias": {"1734": -100},
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "metadata": {"team": "search"},
    "reasoning_effort": "low",
}

# The other shapes of the same fields: an assistant turn with text and calls, a string
# tool_choice, json_object, an https image without detail.
OTHER_REQUEST = ChatRequest(
    model="fake-small",
    messages=(
        Message(
            "user",
            "look",
            parts=(ImagePart(url="https://example.com/cat.png"), TextPart("look")),
        ),
        Message("assistant", "Checking.", tool_calls=(ToolCall("call_c", "get_weather", ARGS),)),
        Message("tool", "rain", tool_call_id="call_c"),
        Message("user", "and now?"),
    ),
    options=ChatOptions(
        tools=(Tool("get_weather", parameters=SCHEMA),),
        tool_choice=ToolChoice("required"),
        response_format=ResponseFormat("json_object"),
    ),
)
OTHER_KWARGS: dict[str, Any] = {
    "model": "fake-small",
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "text", "text": "look"},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_c", "content": "rain"},
        {"role": "user", "content": "and now?"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}],
    "tool_choice": "required",
    "response_format": {"type": "json_object"},
}

CASES = {"tools": (TOOLS_REQUEST, TOOLS_KWARGS), "other": (OTHER_REQUEST, OTHER_KWARGS)}


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", list(CASES))
async def test_the_adapter_sends_what_the_sdk_sends(fake, adapters, case, stream):
    request, kwargs = CASES[case]
    client = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
    if stream:
        async for _ in await client.chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        ):
            pass
    else:
        await client.chat.completions.create(**kwargs)
    await client.close()
    expected = _seen(fake)

    adapter = build_adapter("openai", fake.openai_base_url)
    adapters.append(adapter)
    if stream:
        await collect(adapter, request)
    else:
        await adapter.complete(request)

    assert _seen(fake) == expected
    assert fake.requests[-1].json["messages"] == fake.requests[-2].json["messages"]  # content: null included
