"""AnthropicAdapter against the fake Messages API: what goes on the wire and what comes back."""

from __future__ import annotations

import pytest

from providers_app.adapters.anthropic import DEFAULT_MAX_TOKENS, AnthropicAdapter, finish_reason, request_params
from providers_app.adapters.types import ChatRequest, Message, Usage
from providers_app.errors import UpstreamRateLimited, UpstreamServerError
from tests.fakes.behaviour import Behaviour

from .support import API_KEY, assert_early_stop_closes_the_upstream, chat, collect, collect_into


@pytest.fixture
async def adapter(fake):
    a = AnthropicAdapter(base_url=fake.anthropic_base_url, api_key=API_KEY, timeout_s=5)
    yield a
    await a.aclose()


CONVERSATION = ChatRequest(
    model="claude-test",
    messages=(
        Message("system", "You are terse."),
        Message("user", "first question here"),
        Message("assistant", "first answer"),
        Message("user", "tell me about red green blue"),
    ),
    temperature=0.0,
    stop=("END",),
    user="client-42",
)


async def test_complete_sends_the_messages_api_shape(adapter, fake):
    result = await adapter.complete(CONVERSATION)

    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    # anthropic 2.x sends the key as a bearer token (not x-api-key), plus the API version.
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-api-key" not in sent.headers
    assert sent.headers["anthropic-version"]
    body = sent.json
    assert body["system"] == "You are terse."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS == 4096  # always sent: the API requires it
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 0.0
    assert "top_p" not in body
    assert body["metadata"] == {"user_id": "client-42"}
    assert "stream" not in body

    assert result.text == "tell me about red green blue"
    assert result.finish_reason == "stop"
    assert result.response_id.startswith("msg_")
    assert result.model == "claude-test"
    # input = words of every message, system included (3 + 3 + 2 + 6)
    assert result.usage == Usage(input_tokens=14, output_tokens=6)


async def test_default_max_tokens_comes_from_the_constructor(fake):
    a = AnthropicAdapter(base_url=fake.anthropic_base_url, api_key=API_KEY, timeout_s=5, default_max_tokens=77)
    try:
        await a.complete(chat())
    finally:
        await a.aclose()
    assert fake.requests[-1].json["max_tokens"] == 77


async def test_explicit_max_tokens_and_length_finish(adapter, fake):
    result = await adapter.complete(chat("one two three four", max_tokens=2, top_p=0.5))
    assert fake.requests[-1].json["max_tokens"] == 2
    assert fake.requests[-1].json["top_p"] == 0.5
    assert "system" not in fake.requests[-1].json
    assert result.text == "one two"
    assert result.finish_reason == "length"


async def test_stop_sequence_maps_to_stop(adapter, fake):
    result = await adapter.complete(chat("alpha beta STOP gamma", stop=("STOP",)))
    assert result.text == "alpha beta"
    assert result.finish_reason == "stop"


async def test_complete_reports_cache_tokens_exactly(adapter, fake):
    fake.script(Behaviour.ok(cache_read=40, cache_write=12))
    result = await adapter.complete(chat("a b c"))
    # Anthropic's input_tokens already excludes cached tokens: passed through as is.
    assert result.usage == Usage(input_tokens=3, output_tokens=3, cache_read_tokens=40, cache_write_tokens=12)


async def test_stream_text_finish_and_usage(adapter, fake):
    fake.script(Behaviour.ok(chunks=3, cache_read=5, cache_write=2))
    chunks = await collect(adapter, chat("the quick brown fox jumps"))

    assert fake.requests[-1].json["stream"] is True
    texts = [c.text for c in chunks[:-1]]
    assert len(texts) == 3
    assert "".join(texts) == "the quick brown fox jumps"
    final = chunks[-1]
    assert final.text == ""
    assert final.finish_reason == "stop"
    assert final.usage == Usage(input_tokens=5, output_tokens=5, cache_read_tokens=5, cache_write_tokens=2)
    assert final.response_id.startswith("msg_")
    assert {c.response_id for c in chunks} == {final.response_id}
    assert fake.stats["streams_completed"] == 1


async def test_stream_length_finish(adapter, fake):
    chunks = await collect(adapter, chat("a b c d e", max_tokens=4))
    assert "".join(c.text for c in chunks) == "a b c d"
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage.output_tokens == 4


async def test_overloaded_error_event_mid_stream(adapter, fake):
    fake.script(Behaviour.stream_error("overloaded_error", after_frames=4))
    received = []
    with pytest.raises(UpstreamServerError) as info:
        await collect_into(received, adapter, chat("one two three four"))
    assert info.value.upstream_status == 529
    assert received[0].text  # text arrived before the error event


async def test_rate_limit_error_event_mid_stream(adapter, fake):
    fake.script(Behaviour.stream_error("rate_limit_error"))
    with pytest.raises(UpstreamRateLimited):
        await collect(adapter, chat())


async def test_consumer_stopping_early_closes_the_upstream_stream(adapter, fake):
    await assert_early_stop_closes_the_upstream(adapter, fake)


async def test_list_models(adapter, fake):
    assert await adapter.list_models() == ["fake-small", "fake-large"]
    assert fake.requests[-1].path == "/v1/models"


def test_finish_reason_mapping():
    assert finish_reason("end_turn") == "stop"
    assert finish_reason("stop_sequence") == "stop"
    assert finish_reason("max_tokens") == "length"
    assert finish_reason("tool_use") == "tool_calls"
    assert finish_reason(None) is None


def test_request_params_join_several_system_messages():
    request = ChatRequest(
        model="m", messages=(Message("system", "one"), Message("system", "two"), Message("user", "hi"))
    )
    params = request_params(request, default_max_tokens=10)
    assert params["system"] == "one\n\ntwo"
    assert params["messages"] == [{"role": "user", "content": "hi"}]


async def test_the_first_text_chunk_carries_message_starts_counts(adapter, fake):
    fake.script(Behaviour.ok(cache_read=3, cache_write=2))
    request = chat("one two three four five six")
    chunks = await collect(adapter, request)
    counted = [c.counted for c in chunks if c.counted is not None]
    # Once, on the first chunk: the fake counts the prompt's words (Anthropic's input excludes cache).
    assert chunks[0].counted is counted[0] and len(counted) == 1
    assert (counted[0].input_tokens, counted[0].cache_read_tokens, counted[0].cache_write_tokens) == (
        chunks[-1].usage.input_tokens,
        3,
        2,
    )
    assert counted[0].input_tokens == len(request.messages[0].content.split()) > 0
