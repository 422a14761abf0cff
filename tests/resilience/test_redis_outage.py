"""Redis hung, then killed, mid-run: every request is still served (cache
bypassed, breakers and key rotation local, each Redis call bounded by
REDIS_TIMEOUT_S), and the shared state comes back when Redis does."""

from __future__ import annotations

import time

import httpx
import pytest

from .helpers import AUTH, complete, wait_records
from .redis_server import RedisServer

pytestmark = pytest.mark.redis

CACHEABLE = {"model": "gpt-4o-mini", "prompt": "cache me if redis lives", "temperature": 0}


def _burst(gw, n: int) -> list[tuple[httpx.Response, float]]:
    out = []
    for _ in range(n):
        started = time.monotonic()
        r = complete(gw, CACHEABLE)
        out.append((r, time.monotonic() - started))
    return out


def test_redis_hung_then_killed_then_back(make_gateway, fake, private_redis: RedisServer):
    gw = make_gateway(env={"REDIS_URL": private_redis.url, "REDIS_TIMEOUT_S": "0.25"})
    assert complete(gw, CACHEABLE).headers["x-aiproxy-cache"] == "MISS"
    assert complete(gw, CACHEABLE).headers["x-aiproxy-cache"] == "HIT"
    assert fake.stats()["requests"] == 1

    # Hung: connections are accepted but never answered. Each call must give up
    # after REDIS_TIMEOUT_S, so no request waits much longer than that.
    private_redis.pause()
    hung = _burst(gw, 6)
    assert all(r.status_code == 200 for r, _ in hung), [r.text for r, _ in hung]
    assert all(r.headers["x-aiproxy-cache"] == "MISS" for r, _ in hung)  # bypassed, not failed
    assert max(t for _, t in hung) < 2.0, [round(t, 2) for _, t in hung]
    assert httpx.get(f"{gw.url}/v1/providers/status", headers=AUTH, timeout=5).status_code == 200

    # Killed: connection refused.
    private_redis.kill()
    dead = _burst(gw, 6)
    assert all(r.status_code == 200 for r, _ in dead)
    assert max(t for _, t in dead) < 2.0, [round(t, 2) for _, t in dead]
    assert fake.stats()["requests"] == 13

    # Back (empty, same port): after the gateway's down-window it uses Redis again.
    private_redis.restart()
    time.sleep(2.5)
    deadline = time.monotonic() + 10
    while complete(gw, CACHEABLE).headers["x-aiproxy-cache"] != "HIT" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert complete(gw, CACHEABLE).headers["x-aiproxy-cache"] == "HIT"

    rows = wait_records(gw, 16)
    assert len(rows) >= 16 and {r["status"] for r in rows} <= {"ok", "cache_hit"}
    assert "redis unavailable" in gw.log()
