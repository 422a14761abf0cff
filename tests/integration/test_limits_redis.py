"""Budgets and rate limits on a real Redis (RedisLimiter's Lua scripts).

The in-process suite's test functions run here again against Redis (the `engine` fixture
below makes Redis limiters), then what only Redis must prove: separate limiters with their
own connection pools ("replicas") racing on one database admit exactly the limit, and a
Redis that does not answer falls back to per-process limits and says so."""

from __future__ import annotations

import asyncio
import random
import socket
from decimal import Decimal

import pytest
import redis

from completions_app import metrics
from completions_app.services.gateway_state import GatewayState
from completions_app.services.limit_types import Ask, Limits, Owner
from completions_app.services.limits import FallbackLimiter
from completions_app.services.limits_local import LocalLimiter
from completions_app.services.limits_redis import RedisLimiter
from completions_app.services.redis_state import RedisState
from providers_app.errors import BudgetExceeded, LimitExceeded, RateLimitExceeded
from tests.unit.services.test_limits_local import *  # noqa: F403 - the same semantics, on Redis
from tests.unit.services.test_limits_local import Clock, ask, key, team

pytestmark = pytest.mark.redis

LIMITS_REDIS_URL = "redis://127.0.0.1:6379/6"


@pytest.fixture
async def states():  # type: ignore[no-untyped-def]
    """RedisStates on the limits' test database (emptied first); each is one replica's pool."""
    with redis.Redis.from_url(LIMITS_REDIS_URL) as r:
        r.flushdb()
    made: list[RedisState] = []

    def make(url: str = LIMITS_REDIS_URL, timeout_s: float = 2.0) -> RedisState:
        made.append(RedisState(url, timeout_s=timeout_s))
        return made[-1]

    yield make
    for s in made:
        await s.aclose()


@pytest.fixture
def engine(states):  # type: ignore[no-untyped-def]
    """Overrides the in-process suite's: every shared test runs on a RedisLimiter."""
    return lambda clock: RedisLimiter(states(), clock=clock)


def test_the_shared_tests_run_here_on_redis(lim):
    assert isinstance(lim, RedisLimiter)


async def test_two_replicas_racing_admit_exactly_the_rpm(states):
    n = 37
    clock = Clock()  # one moment for both: the race cannot straddle a minute's edge
    replicas = [RedisLimiter(states(), clock=clock), RedisLimiter(states(), clock=clock)]
    k = Owner("key", 11, "racer", Limits(rpm=n))

    async def one(i: int) -> bool:
        try:
            await replicas[i % 2].admit((k,), Ask(tokens=1, cost=Decimal(0), hold=False))
        except RateLimitExceeded:
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert sum(results) == n
    assert (await replicas[1].usage(k)).requests_this_minute == n  # the refused were not counted


async def test_two_replicas_racing_key_and_team_limits(states):
    replicas = [RedisLimiter(states()), RedisLimiter(states())]
    k, t = key(concurrency=50), team(concurrency=8)
    admitted = await asyncio.gather(
        *(replicas[i % 2].admit((k, t), ask(cost="0")) for i in range(100)), return_exceptions=True
    )
    errors = [a for a in admitted if isinstance(a, BaseException)]
    assert len(admitted) - len(errors) == 8
    assert all(isinstance(e, LimitExceeded) and (e.limit, e.owner) == ("concurrency", "team:search") for e in errors)
    assert (await replicas[0].usage(k)).in_flight == 8


@pytest.mark.parametrize("actual", ["max", "random"])
async def test_a_budget_race_never_settles_more_than_the_budget(states, actual):
    budget, most = Decimal("1.00"), Decimal("0.03")
    replicas = [RedisLimiter(states()), RedisLimiter(states())]
    k = Owner("key", 12, "spender", Limits(budget_usd_day=budget))
    rng = random.Random(7)
    refused = 0

    async def one(i: int) -> None:
        nonlocal refused
        try:
            a = await replicas[i % 2].admit((k,), Ask(tokens=100, cost=most))
        except BudgetExceeded:
            refused += 1
            return
        await asyncio.sleep(rng.random() / 100)
        cost = most if actual == "max" else (most * Decimal(rng.randint(0, 100)) / 100).quantize(Decimal("0.0001"))
        await replicas[(i + 1) % 2].settle(a, tokens=50, cost=cost)  # settled by the other replica

    await asyncio.gather(*(one(i) for i in range(200)))
    u = await replicas[0].usage(k)
    assert u.in_flight == 0 and u.reserved_usd == 0
    assert u.spent_today_usd <= budget
    assert refused > 0
    if actual == "max":  # every admission settles at its reservation: the budget fills exactly to 33 requests
        assert u.spent_today_usd == most * 33


async def test_large_sums_stay_exact(states, clock):
    lim = RedisLimiter(states(), clock=clock)
    k = key(budget_usd_month=Decimal("5000000"))  # 5e15 nano-dollars: Lua would print 5e+15
    a = await lim.admit((k,), ask(cost="2999999.999999999"))
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("2999999.999999999"))
    assert spend.month_usd == Decimal("2999999.999999999")
    err = await refused_admit(lim, (k,), ask(cost="2000000.000000002"))
    assert err.limit == "budget_usd_month"
    await lim.admit((k,), ask(cost="2000000.000000001"))


async def refused_admit(lim, owners, a):  # type: ignore[no-untyped-def]
    with pytest.raises(LimitExceeded) as info:
        await lim.admit(owners, a)
    return info.value


async def test_scripts_reload_after_a_script_flush(states):
    state = states()
    lim = RedisLimiter(state)
    k = key(rpm=5)
    await lim.admit((k,), ask())
    with redis.Redis.from_url(LIMITS_REDIS_URL) as r:
        r.script_flush()
    before = state.round_trips
    a = await lim.admit((k,), ask())  # EVALSHA fails with NOSCRIPT, EVAL runs (and caches) it
    await lim.settle(a, tokens=1, cost=Decimal(0))
    assert state.round_trips - before == 2  # one call each, as the gateway counts them
    assert (await lim.usage(k)).requests_this_minute == 2


async def test_one_round_trip_per_step(states):
    state = states()
    lim = RedisLimiter(state)
    before = state.round_trips
    a = await lim.admit((key(rpm=5, tpm=100), team(concurrency=3, budget_usd_day=Decimal(1))), ask())
    await lim.settle(a, tokens=5, cost=Decimal("0.001"))
    assert state.round_trips - before == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_redis_unavailable_falls_back_to_this_process_and_back(states, caplog):
    down = states(f"redis://127.0.0.1:{_closed_port()}/6", timeout_s=0.2)
    lim = FallbackLimiter(RedisLimiter(down), LocalLimiter())
    k = key(rpm=2)
    a = await lim.admit((k,), ask())
    assert not a.exact and lim.down
    assert metrics.limits_exact._value.get() == 0  # noqa: SLF001 - the gauge's value
    await lim.admit((k,), ask())
    with pytest.raises(RateLimitExceeded):  # still enforced, per process
        await lim.admit((k,), ask())
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("0.5"))  # a local admission settles locally
    assert spend.day_usd == Decimal("0.5")
    assert not (await lim.usage(k)).exact
    assert sum("Redis unavailable" in r.getMessage() for r in caplog.records) == 1  # once per outage

    lim.primary = RedisLimiter(states())  # Redis answers again
    back = await lim.admit((k,), ask())
    assert back.exact and not lim.down
    assert metrics.limits_exact._value.get() == 1  # noqa: SLF001
    assert (await lim.usage(k)).requests_this_minute == 1  # Redis's own count: the local one is not copied


async def test_a_redis_admission_settled_while_redis_is_down_counts_here(states):
    lim = FallbackLimiter(RedisLimiter(states()), LocalLimiter())
    k = key(budget_usd_day=Decimal("1"))
    a = await lim.admit((k,), ask(cost="0.5"))
    assert a.exact and metrics.limits_exact._value.get() == 1  # noqa: SLF001
    lim.primary = RedisLimiter(states(f"redis://127.0.0.1:{_closed_port()}/6", timeout_s=0.2))
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("0.4"))
    assert spend.day_usd == Decimal("0.4") and lim.down
    assert metrics.limits_exact._value.get() == 0  # noqa: SLF001
    # Meanwhile this process enforces the budget from what it saw.
    with pytest.raises(BudgetExceeded):
        await lim.admit((k,), ask(cost="0.61"))


async def test_the_gateway_state_makes_the_limiter_of_its_backend(states):
    local = GatewayState.create("")
    assert isinstance(local.limiter, LocalLimiter)
    await local.aclose()
    shared = GatewayState.create(LIMITS_REDIS_URL)
    assert isinstance(shared.limiter, FallbackLimiter) and shared.limiter.primary.state is shared.shared
    a = await shared.limiter.admit((key(rpm=1),), ask())
    assert a.exact
    await shared.aclose()
