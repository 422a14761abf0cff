"""Fixtures shared by the suites that run the gateway as a subprocess
(e2e, resilience, badinput, replicas): a fake upstream process per module,
reset around each test, and migrated template databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.process import FakeUpstreamProcess
from tests.resilience.launcher import Templates


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess(latency_ms=0, chunks=3) as fake:
        yield fake


@pytest.fixture
def fake(fake_upstream: FakeUpstreamProcess) -> Iterator[FakeUpstreamProcess]:
    fake_upstream.reset()
    yield fake_upstream
    fake_upstream.reset()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.cleanup()
