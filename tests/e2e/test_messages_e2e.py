"""POST /v1/messages end to end: the gateway process, real sockets, the official anthropic SDK
(sync and async, streamed and not, a tool loop) routed to each provider kind behind it, the
response cache, an overloaded upstream as Anthropic's retryable 529, a stream cut by an error
event, and bad input answered in Anthropic's shape."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import pytest

from tests.fakes.behaviour import Behaviour

from .gateway_process import CLIENT_KEY

MODELS = ["gpt-4o-mini", "claude-3-5-haiku", "llama3"]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _sdk(gateway, cls=anthropic.Anthropic):
    return cls(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0)


def _record(gateway, request_id: str) -> dict[str, str]:
    for _ in range(50):  # records are written in batches off the request path
        rows = [r for r in gateway.records() if r["request_id"] == request_id]
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no record for {request_id}")


@pytest.mark.parametrize("model", MODELS)
def test_sync_create_and_stream_from_every_kind(gateway, fake, model):
    client = _sdk(gateway)
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=50, system="be brief", messages=[{"role": "user", "content": "red green blue"}]
    )
    message = raw.parse()
    assert message.content[0].text == "red green blue" and message.model == model
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3
    record = _record(gateway, raw.headers["x-request-id"])
    assert record["status"] == "ok" and record["model"] == model
    assert record["cost_usd"] == raw.headers["x-aiproxy-cost-usd"]

    with client.messages.stream(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "one two three four five"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "one two three four five" == final.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5


@pytest.mark.parametrize("model", MODELS)
async def test_async_tool_loop_streamed_and_not(gateway, fake, model):
    client = _sdk(gateway, anthropic.AsyncAnthropic)
    messages: list[dict] = [{"role": "user", "content": "Paris"}]
    async with client.messages.stream(model=model, max_tokens=100, messages=messages, tools=[WEATHER]) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny 21C"}]}
    )
    second = await client.messages.create(model=model, max_tokens=100, messages=messages, tools=[WEATHER])
    assert second.stop_reason == "end_turn" and second.content[0].text == "tools said: sunny 21C"
    await client.close()


def test_temperature_zero_is_served_from_the_cache(gateway, fake):
    client = _sdk(gateway)
    ask = {"model": "claude-3-5-haiku", "max_tokens": 20, "extra_body": {"temperature": 0},
           "messages": [{"role": "user", "content": "cache me please"}]}  # fmt: skip
    first = client.messages.with_raw_response.create(**ask)
    second = client.messages.with_raw_response.create(**ask)
    assert first.headers["x-aiproxy-cache"] == "MISS" and second.headers["x-aiproxy-cache"] == "HIT"
    assert second.parse().content[0].text == "cache me please"
    assert second.headers["x-aiproxy-cost-usd"] == "0"


def test_an_overloaded_upstream_is_anthropics_529(gateway, fake):
    fake.script(Behaviour.overloaded(path="/v1/messages", times=-1))
    with pytest.raises(anthropic.InternalServerError) as caught:
        _sdk(gateway).messages.create(
            model="claude-3-5-haiku", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_a_stream_cut_upstream_ends_with_an_error_event(gateway, fake):
    fake.script(Behaviour.stream_error("overloaded_error", after_frames=6, path="/v1/messages"))
    with pytest.raises(anthropic.APIStatusError) as caught:  # the SDK raises on an `error` event
        with _sdk(gateway).messages.stream(
            model="claude-3-5-haiku",
            max_tokens=50,
            messages=[{"role": "user", "content": "one two three four five six seven eight"}],
        ) as stream:
            for _text in stream.text_stream:
                pass
    assert caught.value.body["error"]["type"] == "overloaded_error"
    fake.script(Behaviour.stream_error("overloaded_error", after_frames=6, path="/v1/messages"))
    body = {"model": "claude-3-5-haiku", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven eight"}]}  # fmt: skip
    resp = _post(gateway, body)
    assert resp.status_code == 200
    frames = [f for f in resp.text.split("\n\n") if f]
    assert frames[0].startswith("event: message_start\n") and frames[1].startswith("event: ping\n")
    assert frames[-1].startswith("event: error\ndata: ")
    assert '"type":"overloaded_error"' in frames[-1]
    assert not any(f.startswith("event: message_stop") for f in frames)


def _post(gateway, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY, **headers})


@pytest.mark.parametrize(
    ("body", "headers", "named"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, {"anthropic-version": "v1"},
         "anthropic-version"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}]}, {},
         "messages[0].content[0].tool_use_id"),
        ({"max_tokens": 5, "thinking": {"type": "sometimes"},
          "messages": [{"role": "user", "content": "hi"}]}, {}, "thinking.type"),
        ({"messages": [{"role": "user", "content": "hi"}]}, {}, "max_tokens"),
    ],
)  # fmt: skip
def test_bad_input_in_anthropics_shape(gateway, fake, body, headers, named):
    resp = _post(gateway, {"model": "claude-3-5-haiku", **body}, **headers)
    assert resp.status_code == 400
    data = resp.json()
    assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
    assert named in data["error"]["message"]
    assert not [r for r in fake.requests() if r["path"] == "/v1/messages"]  # no upstream was asked
    assert _record(gateway, resp.headers["x-request-id"])["status"] == "error"


CACHED_SYSTEM = [
    {"type": "text", "text": "You answer questions about the weather."},
    {"type": "text", "text": "A long, stable reference text.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
]


def test_a_cached_system_prompt_reaches_anthropic_as_sent_and_is_priced_by_ttl(gateway, fake):
    fake.script(Behaviour.ok(cache_write=40, cache_write_1h=30, path="/v1/messages"))
    raw = _sdk(gateway).messages.with_raw_response.create(
        model="claude-3-5-haiku",
        max_tokens=50,
        extra_body={"top_k": 5},  # not in the SDK's typed signature
        system=CACHED_SYSTEM,
        tools=[{**WEATHER, "cache_control": {"type": "ephemeral"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi there", "cache_control": {"type": "ephemeral"}}]}
        ],
    )
    message = raw.parse()
    assert message.usage.cache_creation_input_tokens == 40
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == 30
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 10
    [sent] = [r["json"] for r in fake.requests() if r["path"] == "/v1/messages"]
    assert sent["system"] == CACHED_SYSTEM and sent["top_k"] == 5
    assert sent["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    record = _record(gateway, raw.headers["x-request-id"])
    assert (record["cache_write_tokens"], record["cache_write_1h_tokens"]) == ("40", "30")
    # No 1-hour price set on the model: 1-hour writes at the 5-minute price, itself the input price.
    assert record["cache_write_1h_price_per_mtok"] == record["input_price_per_mtok"] == "0.8"


@pytest.mark.parametrize(("model", "kind"), [("gpt-4o-mini", "openai"), ("llama3", "ollama")])
def test_cache_control_to_a_kind_without_it_is_refused_naming_the_block(gateway, fake, model, kind):
    with pytest.raises(anthropic.BadRequestError) as caught:
        _sdk(gateway).messages.create(
            model=model, max_tokens=20, system=CACHED_SYSTEM, messages=[{"role": "user", "content": "hi"}]
        )
    assert "system[1].cache_control" in caught.value.body["error"]["message"]
    message = caught.value.body["error"]["message"]
    assert kind in message and "messages[0]" not in message  # named in the request's terms only
    assert not fake.requests()  # no upstream was asked


THINK = {"type": "enabled", "budget_tokens": 1024}


def test_thinking_comes_back_as_sent_streamed_and_not_and_a_tool_loop_passes_it_back(gateway, fake):
    client = _sdk(gateway)
    ask = {"model": "claude-3-5-haiku", "max_tokens": 2048, "thinking": THINK}
    message = client.messages.create(**ask, messages=[{"role": "user", "content": "red green blue"}])
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "The user wrote 3 words; I will echo them."
    assert thinking.signature.startswith("sig_") and text.text == "red green blue"
    with client.messages.stream(**ask, messages=[{"role": "user", "content": "one two"}]) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "The user wrote 2 words; I will echo them."
    assert final.content[0].signature.startswith("sig_") and final.content[1].text == "one two"

    # A tool loop: the first answer's thinking and tool_use go back unmodified (the fake checks the signature).
    messages: list[dict] = [{"role": "user", "content": "Paris"}]
    first = client.messages.create(**ask, messages=messages, tools=[WEATHER])
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    call = first.content[1]
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]})
    second = client.messages.create(**ask, messages=messages, tools=[WEATHER])
    assert second.content[-1].text == "tools said: sunny"
    [sent] = [r["json"] for r in fake.requests() if r["path"] == "/v1/messages"][-1:]
    assert sent["thinking"] == THINK and sent["messages"][1]["content"][0] == first.content[0].model_dump()

    # A thinking block changed on the way back is Anthropic's 400, relayed.
    messages[1]["content"][0]["thinking"] = "edited"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(**ask, messages=messages, tools=[WEATHER])
    assert "signature" in caught.value.body["error"]["message"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3"])
def test_thinking_to_a_kind_without_it_is_refused_by_name(gateway, fake, model):
    with pytest.raises(anthropic.BadRequestError) as caught:
        _sdk(gateway).messages.create(
            model=model, max_tokens=2048, thinking=THINK, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["error"]["param"] == "thinking"
    assert not fake.requests()


def test_the_stop_sequence_an_anthropic_provider_names_is_passed_on(gateway, fake):
    client = _sdk(gateway)
    ask = {"model": "claude-3-5-haiku", "max_tokens": 50, "stop_sequences": ["HALT", "STOP"],
           "messages": [{"role": "user", "content": "one two STOP three"}]}  # fmt: skip
    message = client.messages.create(**ask)
    assert (message.stop_reason, message.stop_sequence, message.content[0].text) == ("stop_sequence", "STOP", "one two")
    with client.messages.stream(**ask) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "STOP")
    # From the cache (temperature 0), streamed and not: the same stop sequence.
    cached = {**ask, "extra_body": {"temperature": 0}}
    for _ in range(2):
        raw = client.messages.with_raw_response.create(**cached)
        assert (raw.parse().stop_reason, raw.parse().stop_sequence) == ("stop_sequence", "STOP")
    assert raw.headers["x-aiproxy-cache"] == "HIT"
    with client.messages.stream(**cached) as stream:
        assert stream.get_final_message().stop_sequence == "STOP"
    # The openai kind does not say which sequence ended the answer: end_turn, as documented.
    other = client.messages.create(**{**ask, "model": "gpt-4o-mini"})
    assert (other.stop_reason, other.stop_sequence) == ("end_turn", None)


def test_message_start_carries_the_input_counts_an_anthropic_provider_sent_first(gateway, fake):
    fake.script(Behaviour.ok(cache_read=7, path="/v1/messages"))
    body = {"model": "claude-3-5-haiku", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "one two three"}]}  # fmt: skip
    frames = [f for f in _post(gateway, body).text.split("\n\n") if f]
    start = json.loads(frames[0].split("data: ", 1)[1])
    assert start["message"]["usage"]["input_tokens"] == 3
    assert start["message"]["usage"]["cache_read_input_tokens"] == 7
    assert start["message"]["usage"]["output_tokens"] == 0


PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQKJcOkw7zDtsOfCg=="}


def test_a_document_and_service_tier_reach_anthropic_as_sent_and_other_kinds_refuse_them(gateway, fake):
    client = _sdk(gateway)
    document = {"type": "document", "source": PDF, "title": "Report", "cache_control": {"type": "ephemeral"}}
    content = [document, {"type": "text", "text": "summarize it"}]
    message = client.messages.create(
        model="claude-3-5-haiku", max_tokens=50, service_tier="auto", messages=[{"role": "user", "content": content}]
    )
    assert message.content[0].text == "summarize it"
    [sent] = [r["json"] for r in fake.requests() if r["path"] == "/v1/messages"]
    assert sent["messages"][0]["content"][0] == document and sent["service_tier"] == "auto"
    for model in ("gpt-4o-mini", "llama3"):
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": content}])
        assert caught.value.body["error"]["param"] == "messages[0].content[0]"
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model=model, max_tokens=50, service_tier="auto", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.body["error"]["param"] == "service_tier"
    assert len([r for r in fake.requests() if r["path"] != "/v1/messages"]) == 0  # refused before any call
