"""POST /v1/messages through the served ASGI application, driven by the anthropic SDK itself
(sync-free: its async client over httpx's ASGI transport), against the fake upstreams of every
provider kind: answers, streams (messages.stream + get_final_message), a tool loop, the cache,
and errors in Anthropic's shape with its statuses, each refused request leaving a record."""

from __future__ import annotations

import json

import anthropic
import httpx
import httpx2
import pytest

from aiproxy.asgi import application
from completions_app.models import CompletionRecord
from completions_app.services.db import db_run
from completions_app.services.recorder import records_flush
from tests.factories import client_create
from tests.unit.services.conftest import gw

__all__ = ["gw"]  # the fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = ["gpt-mini", "claude-h", "llama"]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
async def key(gw):
    return await db_run(lambda: client_create("messages-tester"))


@pytest.fixture
async def sdk(key):
    # The SDK's own HTTP client (httpx2) over the ASGI application: no socket, the real route.
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://testserver")
    client = anthropic.AsyncAnthropic(base_url="http://testserver", api_key=key, http_client=http, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http(key):
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"x-api-key": key}
    ) as client:
        yield client


@pytest.mark.parametrize("model", MODELS)
async def test_create_answers_in_anthropics_shape_from_every_kind(sdk, model):
    raw = await sdk.messages.with_raw_response.create(
        model=model, max_tokens=50, system="be brief", messages=[{"role": "user", "content": "red green blue"}]
    )
    message = await raw.parse()
    assert message.type == "message" and message.role == "assistant" and message.model == model
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "red green blue"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens == 3
    assert message.id == f"msg_{raw.headers['x-request-id']}"
    assert raw.headers["x-aiproxy-cache"] == "MISS"
    assert raw.headers["x-aiproxy-provider"] in ("oa", "an", "ol")


@pytest.mark.parametrize("model", MODELS)
async def test_stream_folds_into_the_same_message(sdk, model):
    async with sdk.messages.stream(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "one two three four five"}]
    ) as stream:
        texts = [t async for t in stream.text_stream]
        message = await stream.get_final_message()
    assert "".join(texts) == "one two three four five"
    assert message.content[0].text == "one two three four five"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 5 and message.usage.input_tokens > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_tool_loop(sdk, model, streamed):
    messages: list[dict] = [{"role": "user", "content": "Paris"}]
    if streamed:
        async with sdk.messages.stream(model=model, max_tokens=100, messages=messages, tools=[WEATHER]) as stream:
            first = await stream.get_final_message()
    else:
        first = await sdk.messages.create(model=model, max_tokens=100, messages=messages, tools=[WEATHER])
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny 21C"}]}
    )
    second = await sdk.messages.create(model=model, max_tokens=100, messages=messages, tools=[WEATHER])
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "tools said: sunny 21C"


async def test_temperature_zero_is_cached(sdk):
    # temperature is no longer in the SDK's typed signature (newer models refuse it): extra_body.
    ask = {"model": "gpt-mini", "max_tokens": 20, "extra_body": {"temperature": 0},
           "messages": [{"role": "user", "content": "a b c"}]}  # fmt: skip
    first = await sdk.messages.with_raw_response.create(**ask)
    second = await sdk.messages.with_raw_response.create(**ask)
    assert first.headers["x-aiproxy-cache"] == "MISS" and second.headers["x-aiproxy-cache"] == "HIT"
    assert (await second.parse()).content[0].text == "a b c"


async def _record(request_id: str) -> CompletionRecord:
    def read() -> CompletionRecord:
        records_flush(10)
        return CompletionRecord.objects.get(request_id=request_id)

    return await db_run(read)


@pytest.mark.parametrize(
    ("body", "headers", "status", "error_type", "named"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "max_tokens"),
        ({"max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1024},
          "messages": [{"role": "user", "content": "hi"}]}, {}, 400, "invalid_request_error", "thinking"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "latest"},
         400, "invalid_request_error", "anthropic-version"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}]}, {}, 400, "invalid_request_error",
         "messages[0].content[0].tool_use_id"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]}, {}, 400,
         "invalid_request_error", "messages[0].content[0].cache_control"),
        ({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {}, 404,
         "not_found_error", "nope"),
    ],
)  # fmt: skip
async def test_refusals_in_anthropics_shape_with_a_record(http, body, headers, status, error_type, named):
    resp = await http.post("/v1/messages", json={"model": "gpt-mini", **body}, headers=headers)
    assert resp.status_code == status, resp.text
    data = resp.json()
    assert data["type"] == "error" and data["error"]["type"] == error_type
    assert named in data["error"]["message"]
    assert data["request_id"] == resp.headers["x-request-id"]
    record = await _record(resp.headers["x-request-id"])
    assert record.interface == "anthropic" and record.status == "error"


async def test_a_missing_key_is_anthropics_401(http):
    resp = await http.post("/v1/messages", json={}, headers={"x-api-key": "aip_nope"})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"


async def test_bearer_auth_and_the_sdk_error_types(key, gw):
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        resp = await http.post(
            "/v1/messages",
            json={"model": "gpt-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}", "anthropic-version": "2023-06-01", "anthropic-beta": "x-1"},
        )
        assert resp.status_code == 200, resp.text
        sdk_http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://testserver")
        client = anthropic.AsyncAnthropic(base_url="http://testserver", api_key="aip_bad", http_client=sdk_http,
                                          max_retries=0)  # fmt: skip
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model="gpt-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert caught.value.body["error"]["type"] == "authentication_error"


async def test_errors_before_the_call_are_in_anthropics_shape_too(http, settings):
    wrong_method = await http.get("/v1/messages")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["type"] == "invalid_request_error"
    settings.MAX_REQUEST_BYTES = 1000
    too_big = await http.post("/v1/messages", json={"model": "gpt-mini", "max_tokens": 5,
                                                    "messages": [{"role": "user", "content": "x" * 2000}]})  # fmt: skip
    assert too_big.status_code == 413
    assert too_big.json()["type"] == "error" and too_big.json()["error"]["type"] == "request_too_large"
    other_route = await http.post("/v1/chat/completions", json={})
    assert "param" in other_route.json()["error"] and "type" not in other_route.json()  # OpenAI's shape there


async def test_a_cached_stream_replays_in_anthropics_events_and_records_the_interface(http):
    body = {"model": "claude-h", "max_tokens": 20, "temperature": 0, "stream": True,
            "messages": [{"role": "user", "content": "replay me"}]}  # fmt: skip
    first = await http.post("/v1/messages", json=body)
    second = await http.post("/v1/messages", json=body)
    assert first.headers["x-aiproxy-cache"] == "MISS" and second.headers["x-aiproxy-cache"] == "HIT"
    for resp in (first, second):
        assert resp.headers["content-type"].startswith("text/event-stream")
        kinds = [frame.split("\n")[0] for frame in resp.text.split("\n\n") if frame]
        assert kinds[:3] == ["event: message_start", "event: ping", "event: content_block_start"]
        assert kinds[-3:] == ["event: content_block_stop", "event: message_delta", "event: message_stop"]
        datas = [json.loads(frame.split("\n")[1].removeprefix("data: ")) for frame in resp.text.split("\n\n") if frame]
        text = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
        assert text == "replay me"
    record = await _record(first.headers["x-request-id"])
    assert record.interface == "anthropic" and record.status == "ok" and record.model == "claude-h"
