"""adapter_create, ClientPool, and adapters surviving a change of event loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from providers_app.adapters.anthropic import AnthropicAdapter
from providers_app.adapters.ollama import OllamaAdapter
from providers_app.adapters.openai import OpenAIAdapter
from providers_app.adapters.registry import ADAPTERS, ClientPool, adapter_create
from tests.fakes.server import FakeUpstreamThread

from .support import API_KEY, chat

REPO = Path(__file__).resolve().parents[3]

CONFIG = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": API_KEY, "timeout_s": 5.0}


def test_adapters_by_kind():
    assert ADAPTERS == {"anthropic": AnthropicAdapter, "openai": OpenAIAdapter, "ollama": OllamaAdapter}
    for kind, cls in ADAPTERS.items():
        adapter = adapter_create(kind=kind, base_url=None, api_key="k", timeout_s=3)
        assert type(adapter) is cls
        assert adapter.timeout_s == 3


def test_serving_loads_no_sdk():
    # A fresh interpreter: this one has imported every SDK already. The SDKs are the reference
    # and the test clients, not the transport: complete and stream through every kind, against
    # a real fake upstream, load none of them (nor httpx/pydantic: ~25-77 MB each).
    code = textwrap.dedent(
        """
        import asyncio, sys
        from providers_app.adapters import registry
        from providers_app.adapters.types import ChatRequest, Message
        from tests.fakes.server import FakeUpstreamThread

        request = ChatRequest(model="fake-small", messages=(Message("user", "one two"),))

        async def main(fake):
            urls = {"openai": fake.openai_base_url, "anthropic": fake.anthropic_base_url, "ollama": fake.ollama_base_url}
            for kind, url in urls.items():
                adapter = registry.adapter_create(kind=kind, base_url=url, api_key="sk-x-0123456789", timeout_s=5.0)
                assert (await adapter.complete(request)).text == "one two"
                chunks = [c async for c in adapter.stream(request)]
                assert "".join(c.text or "" for c in chunks) == "one two", chunks
                await adapter.aclose()

        with FakeUpstreamThread() as fake:
            asyncio.run(main(fake))
        loaded = {"anthropic", "openai", "ollama", "httpx", "httpx2", "pydantic"} & set(sys.modules)
        assert not loaded, sorted(loaded)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603
    assert result.returncode == 0, result.stderr


def test_anthropic_default_max_tokens_from_the_pool():
    adapter = ClientPool(default_max_tokens=333).get("key-1", **{**CONFIG, "kind": "anthropic"})
    assert adapter.default_max_tokens == 333
    assert adapter_create(kind="anthropic", base_url=None, api_key="k", timeout_s=3).default_max_tokens == 4096


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown provider kind"):
        adapter_create(kind="bard", base_url=None, api_key=None, timeout_s=1)


async def test_pool_reuses_one_adapter_per_key():
    pool = ClientPool()
    first = pool.get("key-1", **CONFIG)
    assert pool.get("key-1", **CONFIG) is first
    assert pool.get("key-2", **CONFIG) is not first
    assert len(pool) == 2
    await pool.aclose_all()
    assert len(pool) == 0


async def test_pool_replaces_and_closes_on_config_change(fake):
    pool = ClientPool(retire_grace_s=0)
    config = {**CONFIG, "base_url": fake.openai_base_url}
    old = pool.get("key-1", **config)
    await old.complete(chat())  # so it holds live connections
    assert _loop_bound(old) is not None

    new = pool.get("key-1", **{**config, "api_key": "sk-rotated-key-000000"})
    assert new is not old
    for _ in range(50):
        if _loop_bound(old) is None:
            break
        await asyncio.sleep(0.01)
    assert _loop_bound(old) is None  # closed
    assert pool.get("key-1", **{**config, "timeout_s": 9.0}) is not new
    await pool.aclose_all()


async def test_aclose_all_closes_retired_adapters_too():
    pool = ClientPool(retire_grace_s=3600)
    old = pool.get("key-1", **CONFIG)
    pool.get("key-1", **{**CONFIG, "base_url": "http://127.0.0.1:10/v1"})
    closed = []

    async def record_close() -> None:
        closed.append(True)

    old.aclose = record_close  # type: ignore[method-assign]
    await pool.aclose_all()
    assert closed == [True]


def _adapters_for(fake) -> list:
    return [
        AnthropicAdapter(base_url=fake.anthropic_base_url, api_key=API_KEY, timeout_s=5),
        OpenAIAdapter(base_url=fake.openai_base_url, api_key=API_KEY, timeout_s=5),
        OllamaAdapter(base_url=fake.ollama_base_url, api_key=None, timeout_s=5),
    ]


def _loop_bound(adapter) -> object:
    """What holds the adapter's connections: its aiohttp session on the current loop."""
    return adapter.http._sessions._client


def test_adapter_works_in_one_loop_per_call():
    # aiohttp sessions are tied to their loop: after aclose() in one asyncio.run, the next
    # asyncio.run gets a fresh client (Celery tasks and sync callers work like this).
    async def use_and_close(adapter) -> str:
        try:
            return (await adapter.complete(chat("same answer twice"))).text
        finally:
            await adapter.aclose()

    with FakeUpstreamThread() as fake:
        adapters = _adapters_for(fake)
        for _ in range(2):
            for adapter in adapters:
                assert asyncio.run(use_and_close(adapter)) == "same answer twice"
        assert len(fake.requests) == 2 * len(adapters)


async def test_adapter_moves_to_another_running_loop():
    # Used first on a loop in another thread, then on this one: the adapter makes a client
    # for this loop and has the old one closed on its own (still running) loop.
    with FakeUpstreamThread() as fake:
        adapters = _adapters_for(fake)
        for adapter in adapters:
            first = asyncio.run_coroutine_threadsafe(adapter.complete(chat("from the thread")), fake.loop)
            assert first.result(timeout=10).text == "from the thread"
            old_client = _loop_bound(adapter)
            assert (await adapter.complete(chat("from here"))).text == "from here"
            assert _loop_bound(adapter) is not old_client
            await adapter.aclose()
        await asyncio.sleep(0.1)  # let the other loop finish closing the old clients
