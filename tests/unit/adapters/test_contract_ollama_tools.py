"""The contract with the `ollama` SDK past plain text: for a request with tools, tool turns,
an image, JSON output, seed and the other options, the adapter puts on the wire the JSON
body the SDK sends for the same `chat` call (test_contract.py does the plain text)."""

from __future__ import annotations

from typing import Any

import ollama
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

from .support import build_adapter, collect

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
# Only what the SDK's typed Tool keeps (it drops other JSON Schema keywords on the way).
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "A city"},
        "unit": {"type": "string", "enum": ["C", "F"]},
    },
    "required": ["city"],
}
PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}

TOOL_TURNS = (
    Message("system", "Be brief."),
    Message(
        "user",
        "What is the weather where this photo was taken?",
        parts=(
            TextPart("What is the weather where this photo was taken?"),
            ImagePart(url=f"data:image/png;base64,{PNG}", media_type="image/png", data=PNG),
        ),
    ),
    Message(
        "assistant",
        "",
        tool_calls=(
            ToolCall("call_1", "get_weather", '{"city": "Paris", "unit": "C"}'),
            ToolCall("call_2", "get_time", '{"zone": "Europe/Paris"}'),
        ),
    ),
    Message("tool", "sunny, 21", tool_call_id="call_1"),
    Message("tool", "14:05", tool_call_id="call_2"),
)
TOOLS = (
    Tool("get_weather", "The weather now", WEATHER_SCHEMA),
    Tool("get_time", None, {"type": "object", "properties": {"zone": {"type": "string"}}}),
)

CASES: dict[str, tuple[ChatRequest, dict[str, Any]]] = {
    "tools, tool turns, image, json_schema": (
        ChatRequest(
            model="fake-small",
            messages=TOOL_TURNS,
            max_tokens=50,
            temperature=0.0,
            stop=("END",),
            user="client-7",  # no place in Ollama's API
            options=ChatOptions(
                tools=TOOLS,
                tool_choice=ToolChoice("auto"),
                parallel_tool_calls=True,
                response_format=ResponseFormat("json_schema", name="person", schema=PERSON, strict=True),
                seed=7,
                presence_penalty=0.5,
                frequency_penalty=0.25,
                reasoning_effort="medium",
                logprobs=True,
                top_logprobs=3,
            ),
        ),
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is the weather where this photo was taken?", "images": [PNG]},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}},
                        {"function": {"name": "get_time", "arguments": {"zone": "Europe/Paris"}}},
                    ],
                },
                {"role": "tool", "content": "sunny, 21", "tool_name": "get_weather"},
                {"role": "tool", "content": "14:05", "tool_name": "get_time"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "description": "The weather now", "parameters": WEATHER_SCHEMA},
                },
                {
                    "type": "function",
                    "function": {
                        "name": "get_time",
                        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
                    },
                },
            ],
            "format": PERSON,
            "options": {
                "num_predict": 50,
                "temperature": 0.0,
                "stop": ["END"],
                "seed": 7,
                "presence_penalty": 0.5,
                "frequency_penalty": 0.25,
            },
            "think": "medium",
            "logprobs": True,
            "top_logprobs": 3,
        },
    ),
    "json_object, tool_choice none": (
        ChatRequest(
            model="fake-small",
            messages=(Message("user", "Name a person as JSON."),),
            options=ChatOptions(
                tools=TOOLS, tool_choice=ToolChoice("none"), response_format=ResponseFormat("json_object"), seed=0
            ),
        ),
        {
            "messages": [{"role": "user", "content": "Name a person as JSON."}],
            "format": "json",
            "options": {"seed": 0},
        },
    ),
}


async def _sdk_chat(fake: FakeUpstream, call: dict[str, Any], *, stream: bool) -> None:
    client = ollama.AsyncClient(host=fake.ollama_base_url)
    if stream:
        async for _ in await client.chat(model="fake-small", **call, stream=True):
            pass
    else:
        await client.chat(model="fake-small", **call)


def _normal(body: Any) -> Any:
    """Absent, null and empty-list fields mean the same to Ollama (the SDK always sends `tools: []`)."""
    if isinstance(body, dict):
        return {k: _normal(v) for k, v in body.items() if v is not None and v != []}
    if isinstance(body, list):
        return [_normal(v) for v in body]
    return body


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_the_adapter_sends_what_the_sdk_sends(fake, adapters, monkeypatch, case, stream):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)  # the SDK would send it
    request, sdk_call = case
    await _sdk_chat(fake, sdk_call, stream=stream)
    sent_by_sdk = fake.requests[-1]

    adapter = build_adapter("ollama", fake.ollama_base_url, api_key=None)
    adapters.append(adapter)
    if stream:
        await collect(adapter, request)
    else:
        await adapter.complete(request)
    sent = fake.requests[-1]

    assert (sent.method, sent.path) == (sent_by_sdk.method, sent_by_sdk.path)
    assert _normal(sent.json) == _normal(sent_by_sdk.json)
    assert sent.json["stream"] is stream
