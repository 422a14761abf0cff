"""Budgets and rate limits, in process (LocalLimiter). tests/integration/test_limits_redis.py
runs these same test functions against RedisLimiter on a real Redis: the `engine` fixture
there makes Redis limiters, so both engines are held to one set of semantics.

Time is injected (a `Clock` the test moves): windows, periods and reservation expiry."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from completions_app.services.limit_types import Admission, Ask, Limiter, Limits, Owner
from completions_app.services.limits import duration_text, nanos_up, periods_at, reservation_ttl_s
from completions_app.services.limits_local import LocalLimiter
from providers_app.errors import BudgetExceeded, ConcurrencyLimitExceeded, LimitExceeded, RateLimitExceeded

# 2026-03-14 12:00:10 UTC: 50 s left in the minute.
T0 = datetime(2026, 3, 14, 12, 0, 10, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, *ymdhms: int) -> None:
        self.now = datetime(*ymdhms, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.fixture
def engine():  # type: ignore[no-untyped-def]
    """Makes a limiter on a clock (the Redis suite overrides this fixture)."""
    return lambda clock: LocalLimiter(clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lim(engine, clock) -> Limiter:  # type: ignore[no-untyped-def]
    return engine(clock)


def key(**limits: object) -> Owner:
    return Owner("key", 1, "ci-bot", Limits(**limits))  # type: ignore[arg-type]


def team(**limits: object) -> Owner:
    return Owner("team", 7, "search", Limits(**limits))  # type: ignore[arg-type]


def ask(tokens: int = 10, cost: str = "0.01", hold: bool = True) -> Ask:
    return Ask(tokens=tokens, cost=Decimal(cost), hold=hold)


async def refused(lim: Limiter, owners: tuple[Owner, ...], a: Ask) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as info:
        await lim.admit(owners, a)
    return info.value


# --- each limit alone ------------------------------------------------------------------
async def test_rpm(lim, clock):
    k = key(rpm=3)
    for _ in range(3):
        await lim.admit((k,), ask())
    err = await refused(lim, (k,), ask())
    assert isinstance(err, RateLimitExceeded) and err.code == "rate_limit_exceeded"
    assert (err.limit, err.owner, err.retry_after) == ("rpm", "key:ci-bot", 50)
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    clock.now += 50  # the next minute
    await lim.admit((k,), ask())


async def test_tpm(lim):
    k = key(tpm=100)
    await lim.admit((k,), ask(tokens=60))
    err = await refused(lim, (k,), ask(tokens=41))
    assert isinstance(err, RateLimitExceeded) and err.limit == "tpm"
    assert err.headers["x-ratelimit-remaining-tokens"] == "40"
    await lim.admit((k,), ask(tokens=40))  # exactly to the limit


async def test_concurrency(lim):
    k = key(concurrency=2)
    first = await lim.admit((k,), ask())
    await lim.admit((k,), ask())
    err = await refused(lim, (k,), ask())
    assert isinstance(err, ConcurrencyLimitExceeded) and err.code == "concurrency_limit"
    assert (err.limit, err.retry_after) == ("concurrency", 1)
    assert err.headers == {}  # no rpm/tpm: no x-ratelimit-* headers
    await lim.settle(first, tokens=5, cost=Decimal("0.001"))
    await lim.admit((k,), ask())


async def test_daily_budget_counts_held_and_settled(lim):
    k = key(budget_usd_day=Decimal("1.00"))
    a = await lim.admit((k,), ask(cost="0.40"))
    await lim.admit((k,), ask(cost="0.40"))
    err = await refused(lim, (k,), ask(cost="0.21"))  # 0.80 held + 0.21 > 1.00
    assert isinstance(err, BudgetExceeded) and err.code == "budget_exceeded" and err.error_type == "insufficient_quota"
    assert err.limit == "budget_usd_day"
    assert err.resets_at == "2026-03-15T00:00:00+00:00"
    assert err.retry_after == math.ceil(datetime(2026, 3, 15, tzinfo=UTC).timestamp() - T0)
    await lim.settle(a, tokens=10, cost=Decimal("0.10"))  # 0.40 held + 0.10 settled
    await lim.admit((k,), ask(cost="0.50"))  # exactly 1.00


async def test_monthly_budget(lim):
    k = key(budget_usd_month=Decimal("2.00"))
    a = await lim.admit((k,), ask(cost="1.50"))
    await lim.settle(a, tokens=10, cost=Decimal("1.50"))
    err = await refused(lim, (k,), ask(cost="0.51"))
    assert isinstance(err, BudgetExceeded) and err.limit == "budget_usd_month"
    assert err.resets_at == "2026-04-01T00:00:00+00:00"


# --- together ----------------------------------------------------------------------------
async def test_key_and_team_the_tighter_wins_and_a_refusal_counts_nothing(lim):
    k, t = key(rpm=5, tpm=1000), team(rpm=2, tpm=100)
    first = await lim.admit((k, t), ask(tokens=30))
    # Headers: the owner with the least remaining of each limit.
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert first.headers["x-ratelimit-remaining-tokens"] == "70"
    await lim.admit((k, t), ask(tokens=30))
    err = await refused(lim, (k, t), ask(tokens=30))
    assert (err.limit, err.owner) == ("rpm", "team:search")
    uk, ut = await lim.usage(k), await lim.usage(t)
    assert (uk.requests_this_minute, uk.tokens_this_minute, uk.in_flight) == (2, 60, 2)
    assert (ut.requests_this_minute, ut.tokens_this_minute) == (2, 60)


async def test_the_first_owner_over_is_named(lim):
    k, t = key(concurrency=1), team(budget_usd_day=Decimal("0.05"))
    err = await refused(lim, (k, t), ask(cost="0.06"))
    assert (err.limit, err.owner) == ("budget_usd_day", "team:search")
    assert (await lim.usage(k)).in_flight == 0  # nothing reserved for the key either
    await lim.admit((k, t), ask(cost="0.05"))
    err = await refused(lim, (k, t), ask(cost="0.01"))
    assert (err.limit, err.owner) == ("concurrency", "key:ci-bot")


async def test_a_cache_hit_counts_only_the_request(lim):
    k = key(rpm=10, tpm=50, concurrency=1, budget_usd_day=Decimal("0.01"))
    await lim.admit((k,), ask(tokens=50, cost="0.01"))  # everything but rpm is full
    hit = await lim.admit((k,), ask(tokens=500, cost="5", hold=False))
    u = await lim.usage(k)
    assert (u.requests_this_minute, u.tokens_this_minute, u.in_flight) == (2, 50, 1)
    assert u.reserved_usd == Decimal("0.01")
    spends = await lim.settle(hit, tokens=0, cost=Decimal(0))
    assert spends[0].day_usd == 0
    assert (await lim.usage(k)).in_flight == 1  # the hit held no slot, so it freed none


# --- settle ----------------------------------------------------------------------------
async def test_settle_reconciles_tokens_and_cost(lim):
    k = key(tpm=1000, budget_usd_day=Decimal("10"))
    a = await lim.admit((k,), ask(tokens=500, cost="0.50"))
    assert (await lim.usage(k)).reserved_usd == Decimal("0.5")
    (spend,) = await lim.settle(a, tokens=120, cost=Decimal("0.12"))  # less than reserved
    assert (spend.day_usd, spend.month_usd) == (Decimal("0.12"), Decimal("0.12"))
    u = await lim.usage(k)
    assert (u.tokens_this_minute, u.in_flight, u.reserved_usd) == (120, 0, 0)
    b = await lim.admit((k,), ask(tokens=100, cost="0.10"))
    (spend,) = await lim.settle(b, tokens=300, cost=Decimal("0.30"))  # more (a failover to a dearer model)
    assert spend.day_usd == Decimal("0.42")
    assert (await lim.usage(k)).tokens_this_minute == 420


async def test_settle_is_idempotent(lim):
    k, t = key(tpm=1000), team(budget_usd_month=Decimal("5"))
    a = await lim.admit((k, t), ask(tokens=100, cost="1"))
    first = await lim.settle(a, tokens=40, cost=Decimal("0.40"))
    again = await lim.settle(a, tokens=40, cost=Decimal("0.40"))
    assert [s.month_usd for s in first] == [s.month_usd for s in again] == [Decimal("0.4")] * 2
    assert (await lim.usage(k)).tokens_this_minute == 40


async def test_tokens_settle_in_the_minute_they_were_counted_in_and_never_below_zero(lim, clock):
    k = key(tpm=100)
    a = await lim.admit((k,), ask(tokens=80))
    clock.now += 60  # settled in the next minute
    b = await lim.admit((k,), ask(tokens=10))
    await lim.settle(a, tokens=0, cost=Decimal(0))
    assert (await lim.usage(k)).tokens_this_minute == 10  # the new minute is untouched
    await lim.settle(b, tokens=0, cost=Decimal(0))
    assert (await lim.usage(k)).tokens_this_minute == 0


async def test_cost_is_rounded_up_to_the_nano_dollar(lim):
    assert nanos_up(Decimal("0.0000000001")) == 1
    k = key(budget_usd_day=Decimal("0.000000002"))
    a = await lim.admit((k,), ask(cost="0.0000000001"))  # reserves 1 nano-dollar
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("0.0000000011"))  # 1.1 -> 2
    assert spend.day_usd == Decimal("0.000000002")
    await refused(lim, (k,), ask(cost="0.0000000001"))
    await lim.admit((k,), ask(cost="0"))  # a free model's request still fits a spent budget


# --- expiry and periods -------------------------------------------------------------------
async def test_a_reservation_expires_and_frees_its_slot_and_cost(lim, clock):
    k = key(concurrency=1, budget_usd_day=Decimal("1"))
    await lim.admit((k,), ask(cost="1"))  # its process dies: never settled
    await refused(lim, (k,), ask(cost="0"))
    clock.now += reservation_ttl_s() - 1
    assert (await lim.usage(k)).in_flight == 1
    clock.now += 2
    u = await lim.usage(k)
    assert (u.in_flight, u.reserved_usd, u.spent_today_usd) == (0, 0, 0)
    await lim.admit((k,), ask(cost="1"))


async def test_a_late_settle_after_expiry_still_counts_its_cost_once(lim, clock):
    k = key(concurrency=1, budget_usd_day=Decimal("1"))
    a = await lim.admit((k,), ask(cost="0.6"))
    clock.now += reservation_ttl_s() + 1
    b = await lim.admit((k,), ask(cost="0.4"))
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("0.5"))
    assert spend.day_usd == Decimal("0.5")
    assert (await lim.usage(k)).in_flight == 1  # b's slot is not freed by a's settle
    await lim.settle(b, tokens=1, cost=Decimal("0.4"))


async def test_next_day_and_next_month_pass_again(lim, clock):
    k = key(budget_usd_day=Decimal("1"), budget_usd_month=Decimal("1.5"))
    clock.at(2026, 3, 30, 23, 59, 59)
    await lim.settle(await lim.admit((k,), ask(cost="1")), tokens=1, cost=Decimal("1"))
    assert (await refused(lim, (k,), ask(cost="0.01"))).limit == "budget_usd_day"
    clock.at(2026, 3, 31, 0, 0, 0)
    await lim.settle(await lim.admit((k,), ask(cost="0.5")), tokens=1, cost=Decimal("0.5"))
    err = await refused(lim, (k,), ask(cost="0.01"))
    assert (err.limit, err.resets_at) == ("budget_usd_month", "2026-04-01T00:00:00+00:00")
    assert err.retry_after == 24 * 3600
    clock.at(2026, 4, 1, 0, 0, 0)
    u = await lim.usage(k)
    assert (u.spent_today_usd, u.spent_this_month_usd) == (0, 0)
    await lim.admit((k,), ask(cost="1"))


async def test_a_settle_across_midnight_counts_in_the_admission_day(lim, clock):
    k = key(budget_usd_day=Decimal("1"))
    clock.at(2026, 3, 14, 23, 59, 50)
    a = await lim.admit((k,), ask(cost="0.5"))
    clock.at(2026, 3, 15, 0, 0, 5)
    (spend,) = await lim.settle(a, tokens=1, cost=Decimal("0.5"))
    assert spend.day_usd == Decimal("0.5")  # of the 14th
    assert (await lim.usage(k)).spent_today_usd == 0  # the 15th


# --- headers and usage ----------------------------------------------------------------------
def test_durations_are_written_like_openai():
    assert [duration_text(s) for s in (0.02, 0.9994, 1, 12, 12.2, 59.5, 60, 61, 360)] == [
        "20ms",
        "1000ms",
        "1s",
        "12s",
        "13s",
        "1m0s",
        "1m0s",
        "1m1s",
        "6m0s",
    ]


async def test_headers(lim, clock):
    clock.now = T0 - 10  # the minute's first second: resets in a minute
    a = await lim.admit((key(rpm=60, tpm=1000),), ask(tokens=250))
    assert a.headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "750",
        "x-ratelimit-reset-tokens": "1m0s",
    }
    clock.now = T0 + 38  # 12 s left
    b = await lim.admit((key(rpm=60), team(concurrency=3)), ask(tokens=250))
    assert b.headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "58",
        "x-ratelimit-reset-requests": "12s",
    }
    assert (a.minute, a.day, a.month) == (int((T0 - 10) // 60), "2026-03-14", "2026-03")


async def test_usage(lim, clock):
    k = key(rpm=10, budget_usd_day=Decimal("5"))
    a = await lim.admit((k,), ask(tokens=70, cost="0.7"))
    await lim.admit((k,), ask(tokens=30, cost="0.3"))
    await lim.settle(a, tokens=50, cost=Decimal("0.25"))
    u = await lim.usage(k)
    assert u.owner == k and u.exact
    assert (u.requests_this_minute, u.tokens_this_minute, u.in_flight) == (2, 80, 1)
    assert (u.spent_today_usd, u.spent_this_month_usd, u.reserved_usd) == (
        Decimal("0.25"),
        Decimal("0.25"),
        Decimal("0.3"),
    )
    assert u.minute_resets_in_s == pytest.approx(50)
    clock.now += 50
    assert (await lim.usage(k)).requests_this_minute == 0


async def test_no_owners_is_admitted_and_settled_for_nothing(lim):
    a = await lim.admit((), ask())
    assert isinstance(a, Admission) and a.owners == () and a.headers == {}
    assert await lim.settle(a, tokens=10, cost=Decimal("1")) == ()


def test_periods_follow_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    # 2026-03-08 is the spring-forward day there (23 hours).
    p = periods_at(datetime(2026, 3, 8, 12, 0, tzinfo=UTC).timestamp())  # 08:00 EDT
    assert (p.day, p.month) == ("2026-03-08", "2026-03")
    assert p.next_day.isoformat() == "2026-03-09T00:00:00-04:00"
    p = periods_at(datetime(2026, 1, 1, 3, 0, tzinfo=UTC).timestamp())  # still Dec 31 there
    assert (p.day, p.month, p.next_month.isoformat()) == ("2025-12-31", "2025-12", "2026-01-01T00:00:00-05:00")
