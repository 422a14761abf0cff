"""Circuit breaker end to end: opens after CIRCUIT_BREAKER_MAX_REQUESTS upstream
faults, then fails fast without touching the upstream, then one trial closes it."""

from __future__ import annotations

import time

import httpx

from tests.fakes.behaviour import Behaviour

from .helpers import AUTH, complete, wait_records

BODY = {"model": "gpt-solo", "prompt": "breaker please", "temperature": 0.7}


def _state(gw) -> str:
    status = httpx.get(f"{gw.url}/v1/providers/status", headers=AUTH).json()
    return next(p["state"] for p in status["providers"] if p["name"] == "oa")


def test_breaker_opens_fails_fast_and_one_trial_closes_it(make_gateway, fake):
    gw = make_gateway(env={"CIRCUIT_BREAKER_MAX_REQUESTS": "3", "CIRCUIT_BREAKER_TIMEOUT": "1"})
    fake.script(Behaviour.error(500, path="/v1/chat", times=3))

    # Three upstream 500s: each one reaches the upstream once (a 5xx is not retried on the next key).
    for _ in range(3):
        r = complete(gw, BODY)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["type"] == "upstream_error"
    assert fake.stats()["requests"] == 3
    assert _state(gw) == "open"

    # Open: fail fast with 503 circuit_open, and the upstream is not called.
    started = time.monotonic()
    for _ in range(5):
        r = complete(gw, BODY)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "circuit_open"
    assert time.monotonic() - started < 2.5  # 5 rejections, no upstream round trips
    assert fake.stats()["requests"] == 3

    # After CIRCUIT_BREAKER_TIMEOUT, one trial passes; its success closes the breaker.
    time.sleep(1.3)
    r = complete(gw, BODY)
    assert r.status_code == 200, r.text
    assert fake.stats()["requests"] == 4
    assert _state(gw) == "closed"
    assert complete(gw, BODY).status_code == 200
    assert fake.stats()["requests"] == 5

    rows = wait_records(gw, 10)
    assert [r["status"] for r in rows].count("error") == 8  # 3 upstream errors + 5 rejections
    assert [r["status"] for r in rows].count("ok") == 2


def test_failed_trial_reopens_the_breaker(make_gateway, fake):
    gw = make_gateway(env={"CIRCUIT_BREAKER_MAX_REQUESTS": "2", "CIRCUIT_BREAKER_TIMEOUT": "1"})
    fake.script(Behaviour.error(503, path="/v1/chat", times=3))
    for _ in range(2):
        assert complete(gw, BODY).status_code == 502
    assert complete(gw, BODY).status_code == 503
    time.sleep(1.3)
    assert complete(gw, BODY).status_code == 502  # the trial fails...
    assert complete(gw, BODY).status_code == 503  # ...and the breaker is open again at once
    assert fake.stats()["requests"] == 3
