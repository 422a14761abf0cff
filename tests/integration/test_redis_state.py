"""The shared state on a real Redis, in-process: two breaker / keyring / cache
instances stand in for two replicas (each instance has its own in-process
memory, so only what goes through Redis is shared)."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pybreaker
import pytest

from aiproxy.errors import CircuitOpen, UpstreamServerError
from completions_app.services import redis_state
from completions_app.services.breakers import ProviderBreaker
from completions_app.services.catalog import KeyEntry, ProviderEntry
from completions_app.services.keyring import Keyring
from completions_app.services.response_cache import CachedAnswer, ResponseCache
from providers_app.adapters.types import Usage

pytestmark = pytest.mark.redis

KEYS = (KeyEntry(id=9101, label="k1", secret="sk-a", weight=1), KeyEntry(id=9102, label="k2", secret="sk-b", weight=1))
PROVIDER = ProviderEntry(id=91, name="shared-p", kind="openai", base_url="", timeout_s=5, keys=KEYS)


def _breaker(name: str = "shared-cb", reset_timeout: float = 0.5) -> ProviderBreaker:
    return ProviderBreaker(name, fail_max=3, reset_timeout=reset_timeout, trial_ttl_s=10)


def _fail(b: ProviderBreaker, times: int) -> None:
    for _ in range(times):
        b.admit().failure(UpstreamServerError())


def test_breaker_opened_by_one_instance_is_open_in_the_other(use_redis):
    a, b = _breaker(), _breaker()
    _fail(a, 2)
    assert b.failures == 2  # the failure count is shared too
    _fail(b, 1)
    assert a.state == pybreaker.STATE_OPEN and b.state == pybreaker.STATE_OPEN
    with pytest.raises(CircuitOpen):
        a.admit()
    with pytest.raises(CircuitOpen):
        b.admit()


def test_one_half_open_trial_across_instances_and_success_closes(use_redis):
    a, b = _breaker(), _breaker()
    _fail(a, 3)
    time.sleep(0.6)
    ticket = a.admit()
    assert ticket.trial
    with pytest.raises(CircuitOpen):
        b.admit()  # SET NX: the other "process" sees the trial slot taken
    ticket.success()
    assert b.state == pybreaker.STATE_CLOSED
    assert not b.admit().trial


def test_exactly_one_trial_among_many_concurrent_instances(use_redis):
    breakers = [_breaker() for _ in range(12)]
    _fail(breakers[0], 3)
    time.sleep(0.6)
    barrier = threading.Barrier(len(breakers))

    def attempt(b: ProviderBreaker) -> bool:
        barrier.wait()
        try:
            b.admit()
        except CircuitOpen:
            return False
        return True

    with ThreadPoolExecutor(len(breakers)) as pool:
        admitted = list(pool.map(attempt, breakers))
    assert admitted.count(True) == 1


async def test_key_rotation_is_shared(use_redis):
    a, b = Keyring(), Keyring()
    picks = []
    for i in range(100):
        ordered, cooling = await (a if i % 2 else b).order(PROVIDER)
        assert cooling == 0
        picks.append(ordered[0].label)
    # Two local counters would both start at k1 and give k1,k1,k2,k2,...: still 50/50.
    # The shared counter makes consecutive picks alternate whichever instance asks.
    assert picks.count("k1") == 50 and picks.count("k2") == 50
    assert all(x != y for x, y in zip(picks, picks[1:], strict=False))


async def test_cooldown_is_shared_and_expires(use_redis):
    a, b = Keyring(), Keyring()
    await a.cooldown(KEYS[0], 0.5)
    for _ in range(4):
        ordered, cooling = await b.order(PROVIDER)
        assert [k.label for k in ordered] == ["k2"] and cooling == 1
    assert len(await b.cooling([k.id for k in PROVIDER.keys])) == 1
    time.sleep(0.6)
    assert len(await b.cooling([k.id for k in PROVIDER.keys])) == 0


async def test_cache_round_trip_between_instances(use_redis, settings):
    settings.CACHE_TTL = 30
    answer = CachedAnswer(text="hi there", chunks=["hi", " there"], finish_reason="stop",
                          usage=Usage(input_tokens=3, output_tokens=2), served_model="m", provider="p",
                          cost_usd="0.0000012")  # fmt: skip
    await ResponseCache().set("k" * 64, answer)
    got = await ResponseCache().get("k" * 64)
    assert got == answer
    assert 0 < use_redis.ttl(f"aiproxy:resp:{'k' * 64}") <= 30
    assert await ResponseCache().get("x" * 64) is None


# --- Redis unreachable -----------------------------------------------------------------------
@pytest.fixture(params=["refused", "silent"])
def unreachable_redis(request, settings):
    """A closed port (connection refused) or a socket that accepts and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if request.param == "silent":
        listener.listen(16)
    else:
        listener.close()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.REDIS_TIMEOUT_S = 0.2
    redis_state.health.down_until = 0.0
    redis_state._sync_client = None
    redis_state._async_clients.clear()
    yield
    listener.close()
    redis_state.health.down_until = 0.0
    redis_state._sync_client = None
    redis_state._async_clients.clear()


async def test_unreachable_redis_falls_back_quickly(unreachable_redis):
    started = time.monotonic()
    assert await ResponseCache().get("k" * 64) is None  # a miss, not an error
    first = time.monotonic() - started
    assert first < 1.0, first  # bounded by REDIS_TIMEOUT_S (0.2 s), not a TCP timeout

    # Marked down now: the rest fall back to in-process state at once.
    started = time.monotonic()
    keyring = Keyring()
    labels = [(await keyring.order(PROVIDER))[0][0].label for _ in range(4)]
    assert labels == ["k1", "k2", "k1", "k2"]  # local rotation
    b = _breaker("unreachable-cb")
    _fail(b, 3)
    assert b.state == pybreaker.STATE_OPEN  # local breaker state
    with pytest.raises(CircuitOpen):
        b.admit()
    await ResponseCache().set("k" * 64, CachedAnswer("t", ["t"], None, Usage(), "m", "p", "0"))
    assert time.monotonic() - started < 0.5


def test_unreachable_redis_sync_breaker_bounded(unreachable_redis):
    started = time.monotonic()
    b = _breaker("unreachable-sync")
    assert b.admit() is not None
    assert time.monotonic() - started < 1.0
