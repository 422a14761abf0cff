"""Failover and key rotation: an upstream fault moves to the fallback model; a
429 moves to the next key and cools the limited one for Retry-After seconds.

The module shares one gateway (KEY_COOLDOWN_S=60: a key that comes back after
2 s proves Retry-After was honoured, not the default)."""

from __future__ import annotations

import time
from decimal import Decimal

from tests.fakes.behaviour import Behaviour

from .helpers import OA_SECRETS, complete, key_of, wait_records


def test_5xx_fails_over_to_the_fallback_model(gateway, fake):
    fake.script(Behaviour.error(500, path="/v1/chat", times=1))
    r = complete(gateway, {"model": "gpt-4o-mini", "prompt": "fail me over", "temperature": 0.3},
                 **{"x-request-id": "failover-1"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["x-aiproxy-provider"] == "an"
    body = r.json()
    assert body["model"] == "gpt-4o-mini" and body["served_model"] == "claude-3-5-haiku"
    assert [req["path"] for req in fake.requests()] == ["/v1/chat/completions", "/v1/messages"]
    assert any(x["request_id"] == "failover-1" for x in wait_records(gateway, 1))
    [row] = [x for x in gateway.records() if x["request_id"] == "failover-1"]  # the CSV contract
    assert row["status"] == "ok" and row["served_model"] == "claude-3-5-haiku" and row["provider"] == "an"
    # Billed at the price of the model that served it, not the one asked for.
    assert Decimal(row["input_price_per_mtok"]) == Decimal("0.80")


def test_hanging_upstream_times_out_and_fails_over(gateway, fake):
    fake.script(Behaviour.hang(10, path="/v1/chat", times=1))
    started = time.monotonic()
    r = complete(gateway, {"model": "gpt-hasty", "prompt": "slow one", "temperature": 0.3})
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.headers["x-aiproxy-provider"] == "an"
    assert r.json()["served_model"] == "claude-3-5-haiku"
    assert 0.9 <= elapsed < 5, elapsed  # the provider's timeout_s (1 s), not the 10 s hang


def test_hanging_upstream_without_fallback_is_a_504(gateway, fake):
    fake.script(Behaviour.hang(10, path="/v1/chat", times=1))
    r = complete(gateway, {"model": "gpt-hasty-solo", "prompt": "slow one", "temperature": 0.3})
    assert r.status_code == 504, r.text
    assert r.json()["error"]["type"] == "upstream_timeout"


def test_429_rotates_keys_and_honours_retry_after(gateway, fake):
    fake.script(Behaviour.rate_limited("2", path="/v1/chat", times=1))
    body = {"model": "gpt-solo", "prompt": "rotate", "temperature": 0.5}

    assert complete(gateway, body).status_code == 200
    cooled, other = (key_of(req) for req in fake.requests())
    assert {cooled, other} == set(OA_SECRETS)  # the limited key, then the other one

    # Within the Retry-After window round-robin would alternate: the cooled key must not be used.
    fake.reset()
    for _ in range(4):
        assert complete(gateway, body).status_code == 200
    assert {key_of(req) for req in fake.requests()} == {other}

    # After the window, the cooled key is back in the rotation.
    time.sleep(2.2)
    fake.reset()
    for _ in range(4):
        assert complete(gateway, body).status_code == 200
    assert {key_of(req) for req in fake.requests()} == {cooled, other}


def test_every_key_rate_limited_fails_over_then_429(gateway, fake):
    fake.script(Behaviour.rate_limited("2", path="/v1/chat", times=2))
    r = complete(gateway, {"model": "gpt-4o-mini", "prompt": "all limited", "temperature": 0.5})
    assert r.status_code == 200 and r.headers["x-aiproxy-provider"] == "an"
    # Both keys cool: the model without fallback answers 429 without an upstream call.
    fake.reset()
    r = complete(gateway, {"model": "gpt-solo", "prompt": "all limited", "temperature": 0.5})
    assert r.status_code == 429, r.text
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert fake.requests() == []
    time.sleep(2.1)  # leave the shared gateway with usable keys
