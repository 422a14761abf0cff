"""django-redis and django-prometheus each have a job: Django's cache and the admin's sessions
with Redis; request and database metrics for the pages Django serves (not /v1)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest
from django.db import connection
from prometheus_client import REGISTRY

from aiproxy import asgi
from tests.conftest import TEST_REDIS_URL

from .test_lazy_imports import REPO


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def django_requests() -> float:
    return sum(
        s.value
        for m in REGISTRY.collect()
        if m.name.startswith("django_http_requests_total_by_method")
        for s in m.samples
        if s.name.endswith("_total")
    )


def test_the_pages_django_serves_are_counted_and_v1_is_not(admin_client):
    index = {"status": "200", "view": "admin:index", "method": "GET"}
    db = {"alias": "default", "vendor": connection.vendor}
    before = sample("django_http_responses_total_by_status_view_method_total", **index)
    queries = sample("django_db_execute_total", **db)
    assert admin_client.get("/admin/").status_code == 200
    assert sample("django_http_responses_total_by_status_view_method_total", **index) == before + 1
    assert sample("django_db_execute_total", **db) > queries  # the session and user lookups

    # /v1 takes the direct ASGI route: no Django request, no django_http_* sample moves.
    counted = django_requests()
    assert counted > 0
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/nowhere", "raw_path": b"/v1/nowhere",
             "query_string": b"", "headers": [(b"host", b"testserver")], "server": ("testserver", 80)}  # fmt: skip
    asyncio.run(asgi.application(scope, receive, send))
    assert sent[0]["status"] == 404
    assert django_requests() == counted


def run_settings(env: dict[str, str], code: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_ADDR", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**clean, "DJANGO_SETTINGS_MODULE": "aiproxy.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.redis
def test_with_redis_djangos_cache_and_sessions_use_it():
    run_settings(
        {"REDIS_URL": TEST_REDIS_URL},
        f"""
        import django, redis
        django.setup()
        from django.conf import settings
        from django.core.cache import caches
        from django_redis.cache import RedisCache

        assert isinstance(caches['default'], RedisCache)
        assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
        caches['default'].set("round-trip", {{"n": 1}}, timeout=30)
        assert caches['default'].get("round-trip") == {{"n": 1}}
        raw = redis.Redis.from_url({TEST_REDIS_URL!r})
        [key] = raw.keys("aiproxy-django:*:round-trip")
        assert raw.ttl(key) > 0
        raw.delete(key)
        assert caches['default'].get("round-trip") is None
        """,
    )


def test_without_redis_the_cache_is_local_memory_and_sessions_the_database():
    run_settings(
        {"REDIS_URL": ""},
        """
        import django
        django.setup()
        from django.conf import settings
        from django.core.cache import caches
        from django.core.cache.backends.locmem import LocMemCache

        assert isinstance(caches['default'], LocMemCache)
        assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
        """,
    )
