"""Shared test set-up.

Services: tests marked `redis` need a real Redis and tests marked `postgres`
a real PostgreSQL (DATABASE_URL=postgres://...). Without them they skip —
unless --require-services (or AIPROXY_REQUIRE_SERVICES=1, as .ci/run sets) turns
"service not reachable" into a failure, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

# Fixtures for the suites that run the gateway as a subprocess.
pytest_plugins = ["tests.process_fixtures"]

TEST_REDIS_URL = os.environ.get("AIPROXY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-services",
        action="store_true",
        default=os.environ.get("AIPROXY_REQUIRE_SERVICES") == "1",
        help="fail (instead of skip) tests whose Redis/PostgreSQL is not reachable",
    )


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _missing(config: pytest.Config, what: str) -> None:
    if config.getoption("--require-services"):
        pytest.fail(f"{what} is required (--require-services) but not available", pytrace=False)
    pytest.skip(f"{what} not available")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        from django.conf import settings

        if not settings.DATABASES["default"]["ENGINE"].endswith(".postgresql"):  # django_prometheus wraps it
            _missing(item.config, "PostgreSQL (DATABASE_URL=postgres://...)")
    if item.get_closest_marker("redis") and not _reachable(TEST_REDIS_URL):
        _missing(item.config, f"Redis at {TEST_REDIS_URL}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Records a test queued reach the database before its fixtures are torn down: pytest-django
    empties the database then, and on PostgreSQL its TRUNCATE racing the writer's INSERT
    deadlocks (every refused request is recorded too, so most API tests queue records)."""
    from completions_app.services.recorder import records_flush

    records_flush(10)
    yield


@pytest.fixture(scope="session", autouse=True)
def _record_writer_stopped(django_db_setup):  # noqa: ARG001 - torn down before the test database
    """End the audit-record writer thread before the test database is dropped."""
    yield
    from django.db import connections

    from completions_app.services.recorder import writer

    writer.stop()
    for conn in connections.all():
        if hasattr(conn, "close_pool"):  # psycopg's pool keeps idle connections open
            conn.close_pool()


def _flushed(url: str) -> None:
    import redis

    with redis.Redis.from_url(url) as client:
        client.flushdb()


@pytest.fixture(autouse=True)
async def gw_state(settings):  # type: ignore[no-untyped-def]
    """A fresh gateway state for every test (breakers, keyring, caches, client pool), on the
    backend the settings choose: in-process, or — when the whole suite runs with REDIS_URL,
    as CI does — that Redis database, emptied first. Also drops the catalog snapshot.
    Async so that the state is closed on the test's own loop (its upstream clients live there)."""
    from completions_app.services.catalog import catalog_invalidate
    from completions_app.services.gateway_state import GatewayState, gateway_state_install

    catalog_invalidate()
    if settings.REDIS_URL:
        _flushed(settings.REDIS_URL)
    state = GatewayState.create(settings.REDIS_URL, redis_timeout_s=settings.REDIS_TIMEOUT_S)
    gateway_state_install(state)
    yield state
    current = gateway_state_install(None)
    catalog_invalidate()
    for used in {state, current} - {None}:
        await used.aclose()


@pytest.fixture
def use_redis(settings, gw_state):  # type: ignore[no-untyped-def]
    """The gateway state on the test Redis (AIPROXY_TEST_REDIS_URL), emptied before and after.
    Yields a plain sync client of that database, for the test's own checks."""
    import redis

    from completions_app.services.gateway_state import GatewayState, gateway_state_install

    _flushed(TEST_REDIS_URL)
    settings.REDIS_URL = TEST_REDIS_URL
    gateway_state_install(GatewayState.create(TEST_REDIS_URL, redis_timeout_s=settings.REDIS_TIMEOUT_S))
    client = redis.Redis.from_url(TEST_REDIS_URL)
    yield client
    client.flushdb()
    client.close()
    # gw_state closes the state installed here when it tears down.


@pytest.fixture
def lookups(monkeypatch):  # type: ignore[no-untyped-def]
    """The client keys looked up in the database, in order (the real lookup still runs)."""
    from completions_app.services import auth_cache

    calls: list[str] = []
    real = auth_cache.identity_lookup

    def counting(key_hash: str):  # type: ignore[no-untyped-def]
        calls.append(key_hash)
        return real(key_hash)

    monkeypatch.setattr(auth_cache, "identity_lookup", counting)
    return calls
