"""The fake Chat Completions API answers what the official `openai` SDK parses: tool calls,
n choices, logprobs, refusals and reasoning usage, streamed and not. (If the fake's shapes
drifted from OpenAI's, the adapter tests against it would prove little.)"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from .support import API_KEY

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.fixture
async def client(fake):
    c = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=API_KEY, max_retries=0)
    yield c
    await c.close()


async def test_tool_calls(client):
    response = await client.chat.completions.create(
        model="fake-small", messages=[{"role": "user", "content": "go in parallel"}], tools=TOOLS
    )
    message = response.choices[0].message
    assert response.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert [(c.type, c.function.name) for c in message.tool_calls] == [
        ("function", "get_weather"),
        ("function", "get_time"),
    ]
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "go in parallel"}
    assert json.loads(message.tool_calls[1].function.arguments) == {"input": "go in parallel"}


async def test_streamed_tool_calls(client):
    stream = await client.chat.completions.create(
        model="fake-small", messages=[{"role": "user", "content": "go in parallel"}], tools=TOOLS, stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    async for chunk in stream:
        for d in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(d.index, {"id": d.id, "name": d.function.name, "arguments": ""})
            call["arguments"] += d.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather", "get_time"]
    assert all(c["id"].startswith("call_") for c in calls.values())
    assert json.loads(calls[0]["arguments"]) == {"city": "go in parallel"}


async def test_the_sdks_stream_helper_assembles_the_calls(client):
    # The SDK's own accumulator (client.chat.completions.stream) folds the deltas as OpenAI sends them.
    async with client.chat.completions.stream(
        model="fake-small", messages=[{"role": "user", "content": "weather in Oslo"}], tools=TOOLS
    ) as stream:
        final = await stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "weather in Oslo"})


async def test_n_choices_logprobs_and_reasoning_usage(client):
    response = await client.chat.completions.create(
        model="fake-small",
        messages=[{"role": "user", "content": "one two"}],
        n=2,
        logprobs=True,
        top_logprobs=3,
        reasoning_effort="medium",
    )
    assert [(c.index, c.message.content) for c in response.choices] == [(0, "one two"), (1, "one two")]
    tokens = response.choices[1].logprobs.content
    assert [t.token for t in tokens] == ["one", " two"]
    assert [len(t.top_logprobs) for t in tokens] == [3, 3]
    assert tokens[0].bytes == list(b"one")
    assert response.usage.completion_tokens_details.reasoning_tokens == 8
    assert response.usage.completion_tokens == 2 * (2 + 4)


async def test_streamed_n_choices_each_end(client):
    stream = await client.chat.completions.create(
        model="fake-small",
        messages=[{"role": "user", "content": "one two"}],
        n=2,
        logprobs=True,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts, finishes, tokens = {0: "", 1: ""}, {}, {0: [], 1: []}
    async for chunk in stream:
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            if c.logprobs is not None:
                tokens[c.index] += [t.token for t in c.logprobs.content]
            if c.finish_reason:
                finishes[c.index] = c.finish_reason
    assert texts == {0: "one two", 1: "one two"}
    assert finishes == {0: "stop", 1: "stop"}
    assert tokens == {0: ["one", " two"], 1: ["one", " two"]}


async def test_a_refusal(client):
    response = await client.chat.completions.create(
        model="fake-small", messages=[{"role": "user", "content": "please refuse"}]
    )
    assert (response.choices[0].message.content, response.choices[0].message.refusal) == (None, "please refuse")
