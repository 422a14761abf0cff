"""Limits are exact across replicas (issue 15's proof): two `serve` processes on one Redis and
one database (SQLite file or PostgreSQL, per DATABASE_URL), one fake upstream, and a load
client sending concurrently to both. Each client key below has the limits of one test.

Costs are chosen to be exact: `lim-flat` bills output only, $0.001 a token, and the fake echoes
the prompt's words cut at max_tokens, so a request with a long prompt costs exactly its
reservation (max_tokens x the output price).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from completions_app.services.redis_state import DOWN_FOR_S
from tests.conftest import TEST_REDIS_URL
from tests.e2e.gateway_process import GatewayProcess, free_port
from tests.fakes.behaviour import Behaviour
from tests.resilience.helpers import limits_config
from tests.resilience.launcher import Templates

from .limits_support import (
    InFlightProxy,
    key_usage,
    money,
    next_day_start,
    next_month_start,
    recorded_spend,
    rejections,
    wait_client_records,
    within_one_minute_window,
)

pytestmark = pytest.mark.redis

TTL_S = 3  # LIMIT_RESERVATION_TTL_S of the replicas: a dead replica's reservations expire after it
RPM, CONCURRENCY = 20, 3
BUDGET = Decimal("1.00")
TOKEN_PRICE = Decimal("0.001")  # lim-flat: output_per_mtok 1000
FALLBACK = "enforcing per process"  # limits.FallbackLimiter's log line when Redis does not answer


def _key(name: str) -> str:
    return f"aip_{name.replace('-', '_')}_0123456789abcdef"


LIMITED = {
    "lim-rpm": {"limits": {"rpm": RPM}},
    "lim-conc": {"limits": {"concurrency": CONCURRENCY}},
    "lim-budget": {"limits": {"budget_usd_day": str(BUDGET)}},
    "lim-stream": {"limits": {"budget_usd_day": "100.00"}},
    "lim-team-1": {"team": "lim-team"},
    "lim-team-2": {"team": "lim-team"},
    "lim-kill": {"limits": {"concurrency": CONCURRENCY, "budget_usd_day": "0.10"}},
}
TEAMS = [{"name": "lim-team", "limits": {"budget_usd_month": "0.05"}}]
MODELS = [
    {"name": "lim-flat", "provider": "oa", "upstream_model": "gpt-4o-mini", "input_per_mtok": "0",
     "output_per_mtok": "1000"},
    {"name": "lim-priced", "provider": "oa", "upstream_model": "gpt-4o-mini", "input_per_mtok": "200",
     "output_per_mtok": "1000"},
    {"name": "lim-slow", "provider": "counted", "upstream_model": "gpt-4o-mini", "input_per_mtok": "0.15",
     "output_per_mtok": "0.60"},
]  # fmt: skip


def _config(fake_url: str, proxy_url: str) -> dict[str, Any]:
    counted = {"name": "counted", "kind": "openai", "base_url": f"{proxy_url}/v1", "timeout_s": 10,
               "keys": [{"label": "counted-1", "secret": "sk-e2e-counted-key-5555"}]}  # fmt: skip
    clients = [{"name": name, "key": _key(name), **extra} for name, extra in LIMITED.items()]
    return limits_config(fake_url, clients=clients, teams=TEAMS, models=MODELS, providers=[counted])


def _words(tag: str, n: int) -> str:
    """A prompt of `n` words, distinct per tag (no single flight or cache joins two requests)."""
    return " ".join([tag, *(f"w{i}" for i in range(n - 1))])


def _body(tag: str, *, model: str = "gpt-solo", max_tokens: int = 10, words: int = 12, **extra: Any) -> dict:
    return {"model": model, "prompt": _words(tag, words), "max_tokens": max_tokens, "temperature": 0.5,
            "cache": False, **extra}  # fmt: skip


async def _race(gws: tuple[GatewayProcess, ...], key: str, bodies: list[dict], *, stagger_s: float = 0):
    """POST every body at once (or `stagger_s` apart), alternating between the replicas."""
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def send(i: int, body: dict) -> httpx.Response:
            await asyncio.sleep(i * stagger_s)
            return await client.post(f"{gws[i % len(gws)].url}/v1/complete", json=body)

        return await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))


def _codes(responses: list[httpx.Response]) -> Counter:
    return Counter(r.json()["error"]["code"] if r.status_code != 200 else "ok" for r in responses)


def _launch_pair(templates: Templates, config: dict, root: Path):
    client = redis.Redis.from_url(TEST_REDIS_URL)  # emptied with FLUSHDB only
    client.flushdb()
    base = os.environ.get("DATABASE_URL", "")
    env = {"REDIS_URL": TEST_REDIS_URL, "DATABASE_URL": base, "LIMIT_RESERVATION_TTL_S": str(TTL_S),
           "CIRCUIT_BREAKER_MAX_REQUESTS": "1000"}  # fmt: skip
    (root / "a").mkdir()
    (root / "b").mkdir()
    a = templates.launch(root / "a", config, env)
    b = templates.launch(root / "b", config, env, share_with=a)
    try:
        yield a, b
    finally:
        for gw in (a, b):
            gw.stop()
        a.drop_database(base)
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def proxy(fake_upstream):
    counting = InFlightProxy(fake_upstream.url, free_port()).start()
    yield counting
    counting.stop()


@pytest.fixture(scope="module")
def config(fake_upstream, proxy):
    return _config(fake_upstream.url, proxy.url)


@pytest.fixture(scope="module")
def pair(templates, config, tmp_path_factory):
    yield from _launch_pair(templates, config, tmp_path_factory.mktemp("limits"))


@pytest.fixture
def replicas(pair):
    """The module's pair: each test uses its own client key, so their counts never mix."""
    with _exact_throughout(*pair):
        yield pair


@contextlib.contextmanager
def _exact_throughout(*gws: GatewayProcess):
    """Fail a test during which a replica counted limits in its own memory (Redis unreachable
    or slower than REDIS_TIMEOUT_S): its numbers would not be exact, and saying why beats a
    count that is off. The next test then waits for Redis to be used again."""
    seen = [len(gw.log()) for gw in gws]
    yield
    fell_back = [gw.url for gw, n in zip(gws, seen, strict=True) if FALLBACK in gw.log()[n:]]
    if fell_back:
        time.sleep(DOWN_FOR_S + 0.5)
    assert not fell_back, f"limits fell back to per-process counting on {fell_back}: see the gateway logs"


async def test_rpm_is_exact_across_replicas(replicas, fake):
    a, b = replicas
    key = _key("lim-rpm")
    counted = sum(rejections(gw, "rpm") for gw in (a, b))
    within_one_minute_window()
    answers = await _race((a, b), key, [_body(f"rpm{i}") for i in range(3 * RPM)])
    window_end = 60 - time.time() % 60
    assert _codes(answers) == {"ok": RPM, "rate_limit_exceeded": 2 * RPM}, _codes(answers)
    assert fake.stats()["requests"] == RPM  # exactly N reached the upstream
    for r in answers:
        assert r.headers["x-ratelimit-limit-requests"] == str(RPM)
        if r.status_code == 429:
            assert 1 <= int(r.headers["Retry-After"]) <= window_end + 2, r.headers
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
    # Each replica got half of the 3N requests, so counting apart they would let up to 2N in:
    # exactly N in total is one shared count (which replica's requests won the race varies).
    assert Counter(r.url.port for r in answers) == {a.http_port: 3 * RPM // 2, b.http_port: 3 * RPM // 2}
    assert sum(rejections(gw, "rpm") for gw in (a, b)) - counted == 2 * RPM
    rows = wait_client_records(a, "lim-rpm", 3 * RPM)
    assert Counter((r["http_status"], r["limit_hit"] or "") for r in rows) == {
        (200, ""): RPM,
        (429, "key:lim-rpm:rpm"): 2 * RPM,
    }


async def test_concurrency_cap_is_exact_across_replicas(replicas, fake, proxy):
    a, b = replicas
    fake.script(Behaviour.hang(0.4, path="/v1/chat", times=-1))
    proxy.reset()
    bodies = [_body(f"conc{i}", model="lim-slow") for i in range(10 * CONCURRENCY)]
    # Staggered over ~1.5 s so slots free up and fill again while others arrive.
    answers = await _race((a, b), _key("lim-conc"), bodies, stagger_s=0.05)
    codes = _codes(answers)
    assert set(codes) == {"ok", "concurrency_limit"}, codes
    assert proxy.max_in_flight == CONCURRENCY, proxy.max_in_flight  # reached, never exceeded
    assert proxy.total == codes["ok"] > CONCURRENCY  # slots were released and reused
    for r in answers:
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1


async def test_budget_racing_the_last_dollars(replicas, fake):
    """Each request costs exactly its reservation ($0.04); $0.20 is spent first, then 200
    requests race for the last $0.80 on both replicas: exactly 20 fit."""
    a, b = replicas
    key, max_cost = _key("lim-budget"), 40 * TOKEN_PRICE
    for i in range(5):
        r = httpx.post(f"{(a, b)[i % 2].url}/v1/complete", headers={"authorization": f"Bearer {key}"},
                       json=_body(f"pre{i}", model="lim-flat", max_tokens=40, words=60))  # fmt: skip
        assert r.status_code == 200 and money(r.json()["cost_usd"]) == max_cost, r.text
    bodies = [_body(f"bud{i}", model="lim-flat", max_tokens=40, words=60) for i in range(200)]
    answers = await _race((a, b), key, bodies)
    now = datetime.now(UTC)
    codes = _codes(answers)
    assert codes == {"ok": 20, "budget_exceeded": 180}, codes
    for r in answers:
        if r.status_code == 429:
            assert r.json()["error"]["type"] == "insufficient_quota", r.text
            # The next calendar day (TIME_ZONE UTC) is when requests pass again.
            assert abs(int(r.headers["Retry-After"]) - (next_day_start(now) - now).total_seconds()) <= 5
    rows = wait_client_records(a, "lim-budget", 205)
    spent = recorded_spend(rows)
    assert BUDGET - max_cost <= spent <= BUDGET, spent
    assert Counter(r["limit_hit"] for r in rows if r["http_status"] == 429) == {"key:lim-budget:budget_usd_day": 180}
    for gw in (a, b):
        mine = key_usage(gw, key)
        assert money(mine["spent_today_usd"]) == spent, mine
        assert money(mine["reserved_usd"]) == 0, mine


def test_team_budget_spans_keys_and_replicas_and_names_next_month(replicas, fake):
    """The team's $0.05 a month: a $0.04 request of one key on one replica leaves too little
    for another key of the team on the other replica, until the first of next month."""
    a, b = replicas
    body = _body("team", model="lim-flat", max_tokens=40, words=60)
    first = httpx.post(f"{a.url}/v1/complete", json=body, headers={"authorization": f"Bearer {_key('lim-team-1')}"})
    assert first.status_code == 200, first.text
    refused = httpx.post(f"{b.url}/v1/complete", json=body, headers={"authorization": f"Bearer {_key('lim-team-2')}"})
    now = datetime.now(UTC)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert abs(int(refused.headers["Retry-After"]) - (next_month_start(now) - now).total_seconds()) <= 5
    [row] = wait_client_records(b, "lim-team-2", 1)
    assert (row["http_status"], row["limit_hit"]) == (429, "team:lim-team:budget_usd_month")


def _stream(gw: GatewayProcess, key: str, body: dict, *, read_deltas: int | None = None) -> list[str]:
    """POST a stream; read it whole, or only `read_deltas` deltas and then hang up."""
    got: list[str] = []
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{gw.url}/v1/complete", headers=headers, json={**body, "stream": True},
                      timeout=20) as r:  # fmt: skip
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                got.append(line)
                if read_deltas is not None and len(got) >= read_deltas:
                    break  # leaving the block closes the connection mid-stream
    return got


def test_cut_stream_and_client_disconnect_reconcile_to_the_records(replicas, fake):
    a, b = replicas
    key = _key("lim-stream")
    body = _body("stream", model="lim-priced", max_tokens=50, words=12)
    _stream(a, key, body)  # whole
    fake.script(Behaviour.disconnect(after_frames=3, chunks=6, path="/v1/chat"))
    _stream(b, key, body)  # cut by the upstream
    fake.script(Behaviour.ok(chunks=12, chunk_delay_s=0.3, path="/v1/chat"))
    _stream(a, key, body, read_deltas=2)  # the client hangs up
    r = httpx.post(f"{b.url}/v1/complete", json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    rows = wait_client_records(a, "lim-stream", 4)
    spent = recorded_spend(rows)
    assert len(rows) == 4 and 0 < spent, rows
    # Every reservation (the 50-token maximum) was replaced by what was recorded.
    deadline = time.monotonic() + 10
    while True:
        mine = key_usage(b, key)
        settled = money(mine["spent_today_usd"]) == spent and money(mine["reserved_usd"]) == 0
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert money(mine["spent_today_usd"]) == spent, (mine, rows)
    assert money(mine["reserved_usd"]) == 0 and mine["in_flight"] == 0, mine


@pytest.fixture
def own_replicas(templates, config, tmp_path):
    """A pair of its own: the test kills one of them."""
    for a, b in _launch_pair(templates, config, tmp_path):
        with _exact_throughout(b):
            yield a, b


def test_reservations_of_a_killed_replica_expire(own_replicas, fake):
    """lim-kill: 3 in flight, $0.10 a day. a holds 3 slots and $0.09 when it is SIGKILLed;
    after the reservation TTL the cap is free and the budget whole again."""
    a, b = own_replicas
    key = _key("lim-kill")
    headers = {"authorization": f"Bearer {key}"}
    price = 30 * TOKEN_PRICE
    fake.script(Behaviour.hang(30, path="/v1/chat", times=CONCURRENCY))

    def hold(i: int) -> None:
        try:
            httpx.post(f"{a.url}/v1/complete", headers=headers, timeout=30,
                       json=_body(f"held{i}", model="lim-flat", max_tokens=30, words=40))  # fmt: skip
        except httpx.HTTPError:
            pass  # its replica was killed under it

    holders = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(CONCURRENCY)]
    for t in holders:
        t.start()
    deadline = time.monotonic() + 10
    while fake.stats()["requests"] < CONCURRENCY and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.stats()["requests"] == CONCURRENCY
    held = key_usage(b, key)
    assert held["in_flight"] == CONCURRENCY and money(held["reserved_usd"]) == CONCURRENCY * price, held
    # $0.005 more would fit the budget ($0.095): only the cap refuses it.
    refused = httpx.post(f"{b.url}/v1/complete", headers=headers, json=_body("late", model="lim-flat", max_tokens=5))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "concurrency_limit", refused.text

    a.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    for t in holders:
        t.join(10)
    deadline = killed_at + TTL_S + 10
    while time.monotonic() < deadline:
        free = key_usage(b, key)
        if free["in_flight"] == 0 and money(free["reserved_usd"]) == 0:
            break
        time.sleep(0.2)
    assert free["in_flight"] == 0 and money(free["reserved_usd"]) == 0, free
    assert money(free["spent_today_usd"]) == 0  # nothing was billed for the killed requests
    # Whole again: three at once fit both the cap and the $0.10, a fourth would not ($0.12).
    bodies = [_body(f"after{i}", model="lim-flat", max_tokens=30, words=40) for i in range(CONCURRENCY)]
    assert _codes(asyncio.run(_race((b,), key, bodies))) == {"ok": CONCURRENCY}
    over = httpx.post(f"{b.url}/v1/complete", headers=headers, json=_body("over", model="lim-flat", max_tokens=30))
    assert over.status_code == 429 and over.json()["error"]["code"] == "budget_exceeded", over.text
