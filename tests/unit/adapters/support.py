"""Helpers shared by the adapter tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from providers_app.adapters.anthropic import AnthropicAdapter
from providers_app.adapters.base import ProviderAdapter
from providers_app.adapters.ollama import OllamaAdapter
from providers_app.adapters.openai import OpenAIAdapter
from providers_app.adapters.types import ChatRequest, Message, StreamChunk
from tests.fakes.behaviour import Behaviour
from tests.fakes.server import FakeUpstream

API_KEY = "sk-test-SECRETKEY-0123456789abcdef"

PROVIDERS = ["anthropic", "openai", "ollama"]

AdapterFactory = Callable[..., ProviderAdapter]


def chat(text: str = "hello brave new world", **kw: object) -> ChatRequest:
    return ChatRequest(model="fake-small", messages=(Message("user", text),), **kw)  # type: ignore[arg-type]


def base_url_for(provider: str, fake: FakeUpstream) -> str:
    return {
        "anthropic": fake.anthropic_base_url,
        "openai": fake.openai_base_url,
        "ollama": fake.ollama_base_url,
    }[provider]


def build_adapter(
    provider: str, base_url: str, *, api_key: str | None = API_KEY, timeout_s: float = 5.0
) -> ProviderAdapter:
    cls = {"anthropic": AnthropicAdapter, "openai": OpenAIAdapter, "ollama": OllamaAdapter}[provider]
    return cls(base_url=base_url, api_key=api_key, timeout_s=timeout_s)


async def collect(adapter: ProviderAdapter, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in adapter.stream(request)]


async def collect_into(received: list[StreamChunk], adapter: ProviderAdapter, request: ChatRequest) -> None:
    """Like collect(), but what arrived before an error stays in `received`."""
    async for chunk in adapter.stream(request):
        received.append(chunk)


async def assert_early_stop_closes_the_upstream(adapter: ProviderAdapter, fake: FakeUpstream) -> None:
    """The consumer stops after the first chunk: the upstream stream must be closed, not read on."""
    fake.script(Behaviour.ok(chunks=5, chunk_delay_s=0.05))
    stream = adapter.stream(chat("a b c d e"))
    first = await anext(stream)
    assert first.text == "a"
    await stream.aclose()  # what the gateway does when its own client goes away
    for _ in range(100):
        if fake.stats["disconnects"]:
            break
        await asyncio.sleep(0.02)
    assert fake.stats["disconnects"] == 1
    assert fake.stats["streams_completed"] == 0
