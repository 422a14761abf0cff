"""OpenAIAdapter against the fake Chat Completions API: what goes on the wire and what comes back."""

from __future__ import annotations

import pytest

from providers_app.adapters.openai import OpenAIAdapter, max_tokens_field_for
from providers_app.adapters.types import ChatRequest, Message, Usage
from providers_app.errors import UpstreamServerError
from tests.fakes.behaviour import Behaviour

from .support import API_KEY, assert_early_stop_closes_the_upstream, chat, collect


@pytest.fixture
async def adapter(fake):
    a = OpenAIAdapter(base_url=fake.openai_base_url, api_key=API_KEY, timeout_s=5)
    yield a
    await a.aclose()


async def test_complete_sends_chat_completions_shape(adapter, fake):
    request = ChatRequest(
        model="gpt-test",
        messages=(Message("system", "Be brief."), Message("user", "say alpha beta gamma")),
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=("END", "HALT"),
        user="client-7",
    )
    result = await adapter.complete(request)

    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = sent.json
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "say alpha beta gamma"},
    ]
    # A compatible (non-api.openai.com) base_url gets the widely supported field.
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body
    assert (body["temperature"], body["top_p"], body["stop"], body["user"]) == (0.2, 0.9, ["END", "HALT"], "client-7")
    assert "stream" not in body

    assert result.text == "say alpha beta gamma"
    assert result.finish_reason == "stop"
    assert result.response_id.startswith("chatcmpl-")
    assert result.model == "gpt-test"
    assert result.usage == Usage(input_tokens=6, output_tokens=4)


async def test_optional_fields_are_left_out(adapter, fake):
    await adapter.complete(chat())
    body = fake.requests[-1].json
    assert set(body) == {"model", "messages"}


async def test_cached_tokens_are_split_out_of_prompt_tokens(adapter, fake):
    fake.script(Behaviour.ok(cache_read=30))
    result = await adapter.complete(chat("a b c d"))
    # The fake reports prompt_tokens = 4 + 30 (OpenAI includes cached tokens there).
    assert result.usage == Usage(input_tokens=4, output_tokens=4, cache_read_tokens=30)


async def test_length_finish(adapter, fake):
    result = await adapter.complete(chat("a b c d e", max_tokens=3))
    assert result.text == "a b c"
    assert result.finish_reason == "length"


async def test_stream_asks_for_usage_and_returns_it(adapter, fake):
    fake.script(Behaviour.ok(chunks=2, cache_read=8))
    chunks = await collect(adapter, chat("red green blue yellow"))

    body = fake.requests[-1].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert [c.text for c in chunks[:-1]] == ["red green", " blue yellow"]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage == Usage(input_tokens=4, output_tokens=4, cache_read_tokens=8)
    assert final.response_id.startswith("chatcmpl-")
    assert final.extra == {}


async def test_stream_length_finish(adapter, fake):
    chunks = await collect(adapter, chat("a b c d e", max_tokens=2))
    assert "".join(c.text for c in chunks) == "a b"
    assert chunks[-1].finish_reason == "length"


async def test_error_chunk_mid_stream(adapter, fake):
    fake.script(Behaviour.stream_error("server_error", after_frames=2))
    with pytest.raises(UpstreamServerError):
        await collect(adapter, chat())


async def test_consumer_stopping_early_closes_the_upstream_stream(adapter, fake):
    await assert_early_stop_closes_the_upstream(adapter, fake)


async def test_stream_reads_the_body_to_its_end(adapter, fake):
    fake.script(Behaviour.ok(chunks=2))
    chunks = await collect(adapter, chat("one two"))
    assert chunks[-1].usage == Usage(input_tokens=2, output_tokens=2)
    assert fake.stats["streams_completed"] == 1


async def test_list_models(adapter, fake):
    assert await adapter.list_models() == ["fake-small", "fake-large"]
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("GET", "/v1/models")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"


async def test_keyless_server_gets_no_key_not_the_environments(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    a = OpenAIAdapter(base_url=fake.openai_base_url, api_key=None, timeout_s=5)
    try:
        await a.complete(chat())
    finally:
        await a.aclose()
    assert "authorization" not in fake.requests[-1].headers


def test_max_tokens_field_for_openai_itself():
    assert max_tokens_field_for(None) == "max_completion_tokens"
    assert max_tokens_field_for("https://api.openai.com/v1") == "max_completion_tokens"
    assert max_tokens_field_for("http://vllm.internal:8000/v1") == "max_tokens"
