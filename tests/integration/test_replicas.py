"""Two `serve` replicas sharing one Redis and one database (SQLite file or
PostgreSQL database, per DATABASE_URL): one breaker, one key rotation, one cache.

Single flight is per process by design: identical requests in flight at the
same moment on two replicas reach the upstream once per replica (at most),
not once in total; the shared cache catches every later one.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import httpx
import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.fakes.behaviour import Behaviour
from tests.resilience.helpers import AUTH, OA_SECRETS, complete, key_of, resilience_config
from tests.resilience.launcher import Templates

pytestmark = pytest.mark.redis


def _pair(templates: Templates, fake_url: str, root):
    """(a, b): two gateways on different ports, one Redis db, one database."""
    redis_url = TEST_REDIS_URL  # the test database: emptied with FLUSHDB only, between tests
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    base = os.environ.get("DATABASE_URL", "")
    env = {"REDIS_URL": redis_url, "DATABASE_URL": base,
           "CIRCUIT_BREAKER_MAX_REQUESTS": "3", "CIRCUIT_BREAKER_TIMEOUT": "30"}  # fmt: skip
    config = resilience_config(fake_url)
    (root / "a").mkdir()
    (root / "b").mkdir()
    a = templates.launch(root / "a", config, env)
    b = templates.launch(root / "b", config, env, share_with=a)
    try:
        yield a, b, client
    finally:
        for gw in (a, b):
            gw.stop()
        a.drop_database(base)
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def shared_pair(fake_upstream, templates, tmp_path_factory):
    yield from _pair(templates, fake_upstream.url, tmp_path_factory.mktemp("pair"))


@pytest.fixture
def replicas(shared_pair):
    """The module's pair with Redis emptied: no cached answer, rotation or cooldown carried over."""
    a, b, client = shared_pair
    client.flushdb()
    return a, b


@pytest.fixture
def fresh_replicas(fake_upstream, templates, tmp_path):
    """A pair of its own, for a test that leaves a breaker open."""
    for a, b, _ in _pair(templates, fake_upstream.url, tmp_path):
        yield a, b


def test_breaker_opened_by_one_replica_is_open_in_the_other(fresh_replicas, fake):
    a, b = fresh_replicas
    fake.script(Behaviour.error(500, path="/v1/chat", times=3))
    body = {"model": "gpt-solo", "prompt": "trip it", "temperature": 0.5}
    for _ in range(3):
        assert complete(a, body).status_code == 502
    assert fake.stats()["requests"] == 3
    r = complete(b, body)
    assert r.status_code == 503 and r.json()["error"]["type"] == "circuit_open", r.text
    assert fake.stats()["requests"] == 3  # b failed fast without an upstream call
    status = httpx.get(f"{b.url}/v1/providers/status", headers=AUTH).json()
    assert {p["name"]: p["state"] for p in status["providers"]}["oa"] == "open"


def test_key_rotation_is_shared(replicas, fake):
    a, b = replicas
    body = {"model": "gpt-solo", "prompt": "spread me", "temperature": 0.5}
    for i in range(100):
        assert complete(a if i % 2 else b, body).status_code == 200
    counts = Counter(key_of(req) for req in fake.requests())
    assert set(counts) == set(OA_SECRETS)
    assert abs(counts[OA_SECRETS[0]] - 50) <= 1, counts


def test_answer_cached_by_one_replica_is_a_hit_in_the_other(replicas, fake):
    a, b = replicas
    body = {"model": "gpt-4o-mini", "prompt": "share this answer", "temperature": 0}
    first = complete(a, body)
    assert first.headers["x-aiproxy-cache"] == "MISS"
    second = complete(b, body)
    assert second.headers["x-aiproxy-cache"] == "HIT", second.text
    assert second.json()["text"] == first.json()["text"]
    assert fake.stats()["requests"] == 1


async def test_single_flight_is_per_process(replicas, fake):
    a, b = replicas
    fake.script(Behaviour.ok(delay_s=1.0, path="/v1/chat", times=-1))
    body = {"model": "gpt-4o-mini", "prompt": "everyone at once", "temperature": 0}
    async with httpx.AsyncClient(headers=AUTH, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.post(f"{gw.url}/v1/complete", json=body) for gw in (a, b) for _ in range(5))
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.json()["text"] for r in responses}) == 1
    # One leader per replica (or one in total if b's requests arrived after a's answer was cached).
    assert 1 <= fake.stats()["requests"] <= 2
