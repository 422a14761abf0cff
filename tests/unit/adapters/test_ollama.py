"""OllamaAdapter against the fake /api/chat: what goes on the wire and what comes back."""

from __future__ import annotations

import pytest

from providers_app.adapters.ollama import OllamaAdapter
from providers_app.adapters.types import ChatRequest, Message, Usage
from providers_app.errors import UpstreamServerError
from tests.fakes.behaviour import Behaviour

from .support import chat, collect


@pytest.fixture
async def adapter(fake, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)  # the SDK would send it as a bearer token
    a = OllamaAdapter(base_url=fake.ollama_base_url, api_key=None, timeout_s=5)
    yield a
    await a.aclose()


async def test_complete_sends_chat_with_options(adapter, fake):
    request = ChatRequest(
        model="llama-test",
        messages=(Message("system", "Be kind."), Message("user", "one two three")),
        max_tokens=64,
        temperature=0.7,
        top_p=0.8,
        stop=("END",),
    )
    result = await adapter.complete(request)

    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert "authorization" not in sent.headers  # Ollama needs no auth
    body = sent.json
    assert body["stream"] is False
    assert body["model"] == "llama-test"
    assert body["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "one two three"},
    ]
    assert body["options"] == {"num_predict": 64, "temperature": 0.7, "top_p": 0.8, "stop": ["END"]}

    assert result.text == "one two three"
    assert result.finish_reason == "stop"
    assert result.response_id is None  # Ollama has none
    assert result.model == "llama-test"
    assert result.usage == Usage(input_tokens=5, output_tokens=3)


async def test_no_options_when_none_set(adapter, fake):
    await adapter.complete(chat())
    assert "options" not in fake.requests[-1].json


async def test_length_finish(adapter, fake):
    result = await adapter.complete(chat("a b c d", max_tokens=1))
    assert result.text == "a"
    assert result.finish_reason == "length"
    assert result.usage.output_tokens == 1


async def test_stream_ndjson(adapter, fake):
    fake.script(Behaviour.ok(chunks=3))
    chunks = await collect(adapter, chat("one two three four five six"))
    assert fake.requests[-1].json["stream"] is True
    assert [c.text for c in chunks[:-1]] == ["one two", " three four", " five six"]
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage == Usage(input_tokens=6, output_tokens=6)


async def test_error_line_mid_stream(adapter, fake):
    fake.script(Behaviour.stream_error(after_frames=1))
    with pytest.raises(UpstreamServerError):
        await collect(adapter, chat())


async def test_configured_key_is_sent_as_bearer(fake):
    a = OllamaAdapter(base_url=fake.ollama_base_url, api_key="proxy-token-1234", timeout_s=5)
    try:
        await a.complete(chat())
    finally:
        await a.aclose()
    assert fake.requests[-1].headers["authorization"] == "Bearer proxy-token-1234"


async def test_list_models_uses_tags(adapter, fake):
    assert await adapter.list_models() == ["fake-small", "fake-large"]
    assert fake.requests[-1].path == "/api/tags"
