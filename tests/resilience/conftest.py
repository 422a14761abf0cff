"""Fixtures for the fault-injection suite: one fake upstream per module and
gateway subprocesses started from a template database (see launcher.py).

Faults leave state behind (breakers, cooldowns), so tests that change global
settings get their own gateway (`make_gateway`); tests that only touch their
own requests share one per module (`gateway`)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from .helpers import resilience_config
from .launcher import Templates
from .redis_server import RedisServer


class GatewayFactory:
    def __init__(self, templates: Templates, fake_url: str, root: Path) -> None:
        self.templates, self.fake_url, self.root = templates, fake_url, root
        self.started: list = []
        self._n = itertools.count()

    def make(self, *, env: dict[str, str] | None = None, config: dict | None = None, database_url: str | None = None):
        # REDIS_URL defaults to none (in-process state) whatever the outer environment
        # says, so these tests never share state with another suite's Redis.
        base = database_url if database_url is not None else os.environ.get("DATABASE_URL", "")
        workdir = self.root / f"gw{next(self._n)}"
        workdir.mkdir()
        env = {"REDIS_URL": "", "DATABASE_URL": base, **(env or {})}
        gw = self.templates.launch(workdir, config or resilience_config(self.fake_url), env)
        self.started.append((gw, base))
        return gw

    def close(self) -> None:
        for gw, base in self.started:
            gw.stop()
            gw.drop_database(base)


@pytest.fixture
def make_gateway(fake_upstream, tmp_path, templates):
    """make_gateway(env={...}, config=..., database_url=...) -> a started GatewayProcess."""
    factory = GatewayFactory(templates, fake_upstream.url, tmp_path)
    yield factory.make
    factory.close()


@pytest.fixture(scope="module")
def gateway(fake_upstream, tmp_path_factory, templates):
    """One gateway for a module whose tests leave no state that matters to the others.
    The breaker threshold is high so a few injected faults never open it."""
    factory = GatewayFactory(templates, fake_upstream.url, tmp_path_factory.mktemp("shared"))
    yield factory.make(env={"CIRCUIT_BREAKER_MAX_REQUESTS": "50", "KEY_COOLDOWN_S": "60"})
    factory.close()


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    yield server
    server.kill()
