"""The fake as a subprocess (how e2e tests and the benchmark use it), scripted over HTTP."""

from __future__ import annotations

import pytest

from providers_app.adapters.anthropic import AnthropicAdapter
from providers_app.adapters.ollama import OllamaAdapter
from providers_app.adapters.openai import OpenAIAdapter
from providers_app.errors import UpstreamRateLimited
from tests.fakes.behaviour import Behaviour
from tests.fakes.process import FakeUpstreamProcess

from .support import API_KEY, chat


@pytest.fixture(scope="module")
def fake_process():
    with FakeUpstreamProcess(chunks=2) as proc:
        yield proc


async def test_serves_all_three_providers(fake_process):
    fake_process.reset()
    adapters = [
        AnthropicAdapter(base_url=fake_process.anthropic_base_url, api_key=API_KEY, timeout_s=5),
        OpenAIAdapter(base_url=fake_process.openai_base_url, api_key=API_KEY, timeout_s=5),
        OllamaAdapter(base_url=fake_process.ollama_base_url, api_key=None, timeout_s=5),
    ]
    try:
        for adapter in adapters:
            chunks = [c async for c in adapter.stream(chat("x y z"))]
            assert [c.text for c in chunks[:-1]] == ["x", " y z"]
    finally:
        for adapter in adapters:
            await adapter.aclose()
    paths = [r["path"] for r in fake_process.requests()]
    assert paths == ["/v1/messages", "/v1/chat/completions", "/api/chat"]
    assert fake_process.stats()["streams_completed"] == 3


async def test_scripted_over_the_control_plane(fake_process):
    fake_process.reset()
    fake_process.script(Behaviour.rate_limited("7", path="/v1/chat/completions"))
    adapter = OpenAIAdapter(base_url=fake_process.openai_base_url, api_key=API_KEY, timeout_s=5)
    try:
        with pytest.raises(UpstreamRateLimited) as info:
            await adapter.complete(chat())
        assert info.value.retry_after == 7.0
        assert (await adapter.complete(chat("fine now"))).text == "fine now"
    finally:
        await adapter.aclose()
    assert fake_process.stats()["requests"] == 2
