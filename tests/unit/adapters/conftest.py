"""Fixtures for adapter tests: a fake upstream on this test's loop, and adapters pointed at it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from providers_app.adapters.base import ProviderAdapter
from tests.fakes.server import FakeUpstream

from .support import PROVIDERS, AdapterFactory, base_url_for, build_adapter


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def adapters() -> AsyncIterator[list[ProviderAdapter]]:
    """Adapters created by a test, closed after it."""
    made: list[ProviderAdapter] = []
    yield made
    for adapter in made:
        await adapter.aclose()


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_adapter(provider: str, fake: FakeUpstream, adapters: list[ProviderAdapter]) -> AdapterFactory:
    """make_adapter(timeout_s=..., api_key=..., base_url=...) for the parametrized provider."""

    def make(*, base_url: str | None = None, **kw: object) -> ProviderAdapter:
        adapter = build_adapter(provider, base_url or base_url_for(provider, fake), **kw)  # type: ignore[arg-type]
        adapters.append(adapter)
        return adapter

    return make
