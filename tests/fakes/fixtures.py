"""Pytest fixtures for the fake upstream, for any test package to import into its conftest:

from tests.fakes.fixtures import fake_upstream, fake_upstream_process, fake_upstream_thread  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .process import FakeUpstreamProcess
from .server import FakeUpstream, FakeUpstreamThread


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    """The fake on the test's own event loop (async tests)."""
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake_upstream_thread() -> Iterator[FakeUpstreamThread]:
    """The fake on a loop in a background thread (sync tests, or code that runs its own loop)."""
    with FakeUpstreamThread() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_upstream_process() -> Iterator[FakeUpstreamProcess]:
    """The fake as a subprocess, shared by the session: call .reset() at the start of a test."""
    with FakeUpstreamProcess() as fake:
        yield fake
