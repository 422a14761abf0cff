"""The shared state on a real Redis, in-process: separate state objects on one
Redis database stand in for replicas (each has its own in-process memory, so
only what goes through Redis is shared)."""

from __future__ import annotations

import asyncio
import socket
import time

import pybreaker
import pytest

from completions_app.services import breakers
from completions_app.services.breakers import ProviderBreaker
from completions_app.services.catalog import KeyEntry, ProviderEntry
from completions_app.services.keyring import Keyring
from completions_app.services.redis_state import RedisState
from completions_app.services.response_cache import CachedAnswer, ResponseCache
from completions_app.services.shared_state import Fallback, LocalState
from providers_app.adapters.types import Usage
from providers_app.errors import CircuitOpen, UpstreamServerError
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.redis

KEYS = (KeyEntry(id=9101, label="k1", secret="sk-a", weight=1), KeyEntry(id=9102, label="k2", secret="sk-b", weight=1))
PROVIDER = ProviderEntry(id=91, name="shared-p", kind="openai", base_url="", timeout_s=5, keys=KEYS)


def _redis(url: str = TEST_REDIS_URL, timeout_s: float = 0.25) -> RedisState:
    """One replica's connection to the shared state."""
    return RedisState(url, timeout_s=timeout_s)


def _breaker(state: RedisState | None = None, name: str = "shared-cb", reset_timeout: float = 0.5) -> ProviderBreaker:
    return ProviderBreaker(name, state=state or _redis(), fail_max=3, reset_timeout=reset_timeout, trial_ttl_s=10)


async def _fail(b: ProviderBreaker, times: int) -> None:
    for _ in range(times):
        (await b.admit()).failure(UpstreamServerError())
    await b.settle()


async def test_breaker_opened_by_one_instance_is_open_in_the_other(use_redis):
    a, b = _breaker(), _breaker()
    await _fail(a, 2)
    await b.refresh()
    assert b.failures == 2  # the failure count is shared too
    await _fail(b, 1)  # the third failure, counted across both, opens it
    await a.refresh()
    assert a.state == pybreaker.STATE_OPEN and b.state == pybreaker.STATE_OPEN
    with pytest.raises(CircuitOpen):
        await a.admit()
    with pytest.raises(CircuitOpen):
        await b.admit()


async def test_an_opening_reaches_a_busy_replica_within_the_refresh_interval(use_redis):
    a, b = _breaker(reset_timeout=30), _breaker(reset_timeout=30)
    (await b.admit()).success()  # b is running: it no longer waits for the shared state
    await _fail(a, 3)
    assert a.state == pybreaker.STATE_OPEN
    (await b.admit()).success()  # b's snapshot is younger than REFRESH_S: still closed here
    opened_at = time.monotonic()
    while True:
        try:
            (await b.admit()).success()
        except CircuitOpen:
            break
        assert time.monotonic() - opened_at < breakers.REFRESH_S + 0.25, "b never saw the breaker open"
        await asyncio.sleep(0.01)
    assert b.state == pybreaker.STATE_OPEN


async def test_a_closed_path_success_costs_no_redis_round_trip(use_redis):
    redis = _redis()
    b = _breaker(redis)
    (await b.admit()).success()  # first use: one MGET, awaited, to learn the shared state
    await b.settle()
    first = redis.round_trips
    assert first == 1
    for _ in range(200):
        (await b.admit()).success()
    await b.settle()
    assert redis.round_trips == first  # within REFRESH_S: no command at all
    await asyncio.sleep(breakers.REFRESH_S + 0.05)
    for _ in range(200):
        (await b.admit()).success()
    await asyncio.sleep(0.05)  # the refresh runs beside the requests: let it
    assert redis.round_trips == first + 1  # one background refresh per interval, not per request


async def test_one_half_open_trial_across_instances_and_success_closes(use_redis):
    a, b = _breaker(), _breaker()
    await _fail(a, 3)
    await asyncio.sleep(0.6)
    ticket = await a.admit()
    assert ticket.trial
    with pytest.raises(CircuitOpen):
        await b.admit()  # SET NX: the other "process" sees the trial slot taken
    ticket.success()
    await a.settle()
    await b.refresh()
    assert b.state == pybreaker.STATE_CLOSED
    assert not (await b.admit()).trial


async def test_exactly_one_trial_among_many_concurrent_instances(use_redis):
    replicas = [_breaker() for _ in range(12)]
    await _fail(replicas[0], 3)
    await asyncio.sleep(0.6)

    async def attempt(b: ProviderBreaker) -> bool:
        try:
            await b.admit()
        except CircuitOpen:
            return False
        return True

    admitted = await asyncio.gather(*(attempt(b) for b in replicas))
    assert admitted.count(True) == 1


async def test_key_rotation_is_shared(use_redis):
    a, b = Keyring(Fallback(_redis(), LocalState())), Keyring(Fallback(_redis(), LocalState()))
    picks = []
    for i in range(100):
        ordered, cooling, _ = await (a if i % 2 else b).order(PROVIDER)
        assert cooling == 0
        picks.append(ordered[0].label)
    # Two local counters would both start at k1 and give k1,k1,k2,k2,...: still 50/50.
    # The shared counter makes consecutive picks alternate whichever instance asks.
    assert picks.count("k1") == 50 and picks.count("k2") == 50
    assert all(x != y for x, y in zip(picks, picks[1:], strict=False))


async def test_cooldown_is_shared_and_expires(use_redis):
    a, b = Keyring(Fallback(_redis(), LocalState())), Keyring(Fallback(_redis(), LocalState()))
    await a.cooldown(KEYS[0], 0.5)
    for _ in range(4):
        ordered, cooling, wait_s = await b.order(PROVIDER)
        assert [k.label for k in ordered] == ["k2"] and cooling == 1
        assert wait_s is not None and 0 < wait_s <= 0.5  # the end time set by the other replica
    assert len(await b.cooling([k.id for k in PROVIDER.keys])) == 1
    await asyncio.sleep(0.6)
    assert len(await b.cooling([k.id for k in PROVIDER.keys])) == 0


async def test_cache_round_trip_between_instances(use_redis, settings):
    settings.CACHE_TTL = 30
    answer = CachedAnswer(text="hi there", chunks=["hi", " there"], finish_reason="stop",
                          usage=Usage(input_tokens=3, output_tokens=2), served_model="m", provider="p",
                          cost_usd="0.0000012")  # fmt: skip
    await ResponseCache(_redis()).set("k" * 64, answer)
    got = await ResponseCache(_redis()).get("k" * 64)
    assert got == answer
    assert 0 < use_redis.ttl(f"aiproxy:resp:{'k' * 64}") <= 30
    assert await ResponseCache(_redis()).get("x" * 64) is None


# --- Redis unreachable -----------------------------------------------------------------------
@pytest.fixture(params=["refused", "silent"])
def unreachable_redis(request):
    """A closed port (connection refused) or a socket that accepts and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if request.param == "silent":
        listener.listen(16)
    else:
        listener.close()
    yield _redis(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
    listener.close()


async def test_unreachable_redis_falls_back_quickly(unreachable_redis):
    state = unreachable_redis
    started = time.monotonic()
    assert await ResponseCache(state).get("k" * 64) is None  # a miss, not an error
    first = time.monotonic() - started
    assert first < 1.0, first  # bounded by the timeout (0.2 s), not a TCP timeout

    # Marked down now: the rest fall back to in-process state at once.
    started = time.monotonic()
    keyring = Keyring(Fallback(state, LocalState()))
    labels = [(await keyring.order(PROVIDER))[0][0].label for _ in range(4)]
    assert labels == ["k1", "k2", "k1", "k2"]  # local rotation
    b = _breaker(state, "unreachable-cb")
    await _fail(b, 3)
    assert b.state == pybreaker.STATE_OPEN  # local breaker state
    with pytest.raises(CircuitOpen):
        await b.admit()
    await ResponseCache(state).set("k" * 64, CachedAnswer("t", ["t"], None, Usage(), "m", "p", "0"))
    assert time.monotonic() - started < 0.5


async def test_unreachable_redis_breaker_admits_within_the_timeout(unreachable_redis):
    started = time.monotonic()
    b = _breaker(unreachable_redis, "unreachable-first")
    assert not (await b.admit()).trial  # its first refresh fails: the local snapshot (closed) decides
    assert time.monotonic() - started < 1.0
