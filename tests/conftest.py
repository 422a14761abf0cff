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


@pytest.fixture(autouse=True)
def _fresh_gateway_state():
    """Every test starts with empty gateway state (catalog, auth cache, keys, breakers, cache),
    in-process and, when the whole suite runs with REDIS_URL (as CI does), in Redis."""
    from django.conf import settings

    from completions_app.services import auth, breakers, catalog, keyring, redis_state, response_cache

    def clear() -> None:
        catalog.catalog_invalidate()
        auth.auth_cache_clear()
        keyring.keyring.reset()
        breakers.board.reset()
        response_cache.response_cache.clear_local()
        redis_state.health.down_until = 0.0
        if settings.REDIS_URL:
            import redis

            redis.Redis.from_url(settings.REDIS_URL).flushdb()
            redis_state._sync_client = None
            redis_state._async_clients.clear()

    clear()
    yield
    clear()


@pytest.fixture
def use_redis(settings):  # type: ignore[no-untyped-def]
    """Point the gateway at the test Redis (db 15), emptied before and after."""
    import redis

    from completions_app.services import redis_state

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    settings.REDIS_URL = TEST_REDIS_URL
    redis_state.health.down_until = 0.0
    redis_state._sync_client = None
    redis_state._async_clients.clear()
    yield client
    client.flushdb()
    redis_state._sync_client = None
    redis_state._async_clients.clear()
    redis_state.health.down_until = 0.0
