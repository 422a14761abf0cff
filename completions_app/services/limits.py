"""Budgets and rate limits: the logic both engines share, the fallback, the factory.

Two engines implement limit_types.Limiter with the same semantics: limits_redis.RedisLimiter
(one Lua script per admit and per settle: exact across replicas) and
limits_local.LocalLimiter (this process's memory). Everything they must agree on lives
here as pure functions: the periods a moment falls in, money as integer nano-dollars, the
order limits are checked in (`first_over`; the Lua script mirrors it line by line), the
x-ratelimit-* headers and the errors. The shared test functions run against both.

Per owner (Owner.ref): requests and tokens per epoch minute; the live reservations
(concurrency, and the cost they hold); settled spend per calendar day and month in
TIME_ZONE. A request fits an owner's budget when settled + held + its maximum cost <= budget.

`FallbackLimiter` answers from a LocalLimiter while Redis does not (approximate: per
process; Admission.exact False, ai_proxy_limits_exact 0) and goes back to Redis as soon as
it answers again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings

from providers_app.errors import BudgetExceeded, ConcurrencyLimitExceeded, LimitExceeded, RateLimitExceeded

from .. import metrics
from .limit_types import Admission, Ask, Limiter, Owner, OwnerUsage, Spend
from .shared_state import StateUnavailable

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # epoch seconds (time.time); tests inject their own

NANO = 10**9  # money is counted in integer nano-dollars: exact sums, no float drift
NONE = -1  # "no such limit" in the integer arguments of a check
MINUTE_KEEP_S = 120  # a minute's counters live two minutes
PERIOD_MARGIN_S = 3600  # day/month spend outlives its period by this much (late settles)
# The order limits are checked in, per owner; codes 1..5 in the Lua script.
CHECKED = ("rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month")


def reservation_ttl_s() -> float:
    """How long a reservation holds when its request is never settled (its process died)."""
    return float(getattr(settings, "LIMIT_RESERVATION_TTL_S", 600))


def nanos_up(usd: Decimal) -> int:
    """Dollars to nano-dollars, rounded up: what is counted is never below what is recorded."""
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


def usd(nanos: int) -> Decimal:
    return Decimal(nanos) / NANO


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class Periods:
    """The windows one moment falls in."""

    now: float
    minute: int  # epoch minute
    day: str  # "YYYY-MM-DD" in TIME_ZONE
    month: str  # "YYYY-MM"
    next_day: datetime  # starts of the next periods, in TIME_ZONE
    next_month: datetime

    @property
    def minute_reset_s(self) -> float:
        return (self.minute + 1) * 60 - self.now

    def reset_s(self, at: datetime) -> float:
        return max(0.0, at.timestamp() - self.now)

    def day_keep_s(self) -> int:
        return math.ceil(self.reset_s(self.next_day)) + PERIOD_MARGIN_S

    def month_keep_s(self) -> int:
        return math.ceil(self.reset_s(self.next_month)) + PERIOD_MARGIN_S


def periods_at(now: float) -> Periods:
    minute = int(now // 60)
    day, month, next_day, next_month = _calendar(settings.TIME_ZONE, minute)
    return Periods(now, minute, day, month, next_day, next_month)


@lru_cache(maxsize=8)
def _calendar(zone_name: str, minute: int) -> tuple[str, str, datetime, datetime]:
    """The day and month an epoch minute falls in, and when they end (time zones change
    offset on a minute's edge, so the whole minute shares them: computed once per minute)."""
    zone = _zone(zone_name)
    local = datetime.fromtimestamp(minute * 60, zone)
    # From the wall date, not +24h: a DST day is 23 or 25 hours long.
    tomorrow = local.date() + timedelta(days=1)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return (
        local.strftime("%Y-%m-%d"),
        local.strftime("%Y-%m"),
        datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone),
        datetime(year, month, 1, tzinfo=zone),
    )


def limit_args(owner: Owner) -> tuple[int, int, int, int, int]:
    """An owner's limits as integers, in CHECKED order (budgets in nano-dollars; NONE unset).
    A budget is floored to the nano-dollar (budgets are whole cents in practice)."""
    lim = owner.limits

    def n(v: int | None) -> int:
        return NONE if v is None else int(v)

    def money(v: Decimal | None) -> int:
        return NONE if v is None else int(v * NANO)

    return (n(lim.rpm), n(lim.tpm), n(lim.concurrency), money(lim.budget_usd_day), money(lim.budget_usd_month))


@dataclass(slots=True)
class Counts:
    """One owner's state as a check sees it."""

    requests: int = 0  # this minute
    tokens: int = 0  # this minute
    live: int = 0  # reservations not settled nor expired
    held: int = 0  # nano-dollars they hold
    day: int = 0  # settled nano-dollars today
    month: int = 0  # this month


def first_over(limits: Sequence[int], c: Counts, *, tokens: int, cost: int, hold: bool) -> str | None:
    """The first limit of one owner the request does not fit, or None (limits_redis.ADMIT
    checks the same, in the same order)."""
    rpm, tpm, conc, day, month = limits
    if rpm != NONE and c.requests + 1 > rpm:
        return "rpm"
    if tpm != NONE and c.tokens + tokens > tpm:
        return "tpm"
    if hold:
        if conc != NONE and c.live + 1 > conc:
            return "concurrency"
        if day != NONE and c.day + c.held + cost > day:
            return "budget_usd_day"
        if month != NONE and c.month + c.held + cost > month:
            return "budget_usd_month"
    return None


def duration_text(seconds: float) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* headers write it: "20ms", "12s", "1m0s"."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    s = math.ceil(seconds)
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60}s"


def rate_headers(owners: Sequence[Owner], counts: Sequence[Counts], reset_s: float) -> dict[str, str]:
    """x-ratelimit-* for the owner with the least remaining of each limit that exists."""
    headers: dict[str, str] = {}
    reset = duration_text(reset_s)
    for suffix, name, attr in (("requests", "rpm", "requests"), ("tokens", "tpm", "tokens")):
        best: tuple[int, int] | None = None  # (remaining, limit)
        for owner, c in zip(owners, counts, strict=True):
            limit = getattr(owner.limits, name)
            if limit is None:
                continue
            remaining = max(0, limit - getattr(c, attr))
            if best is None or remaining < best[0]:
                best = (remaining, limit)
        if best is not None:
            headers[f"x-ratelimit-limit-{suffix}"] = str(best[1])
            headers[f"x-ratelimit-remaining-{suffix}"] = str(best[0])
            headers[f"x-ratelimit-reset-{suffix}"] = reset
    return headers


def refusal(owner: Owner, limit: str, p: Periods, headers: dict[str, str]) -> LimitExceeded:
    """The error for a request over `limit` of `owner`."""
    if limit in ("rpm", "tpm"):
        what = "requests" if limit == "rpm" else "tokens"
        return RateLimitExceeded(
            f"Rate limit of {owner.label} reached: {getattr(owner.limits, limit)} {what} per minute.",
            limit=limit,
            owner=owner.label,
            retry_after=math.ceil(p.minute_reset_s),
            headers=headers,
        )
    if limit == "concurrency":
        return ConcurrencyLimitExceeded(
            f"{owner.label} has {owner.limits.concurrency} requests in flight, its limit.",
            limit=limit,
            owner=owner.label,
            retry_after=1,
            headers=headers,
        )
    at = p.next_day if limit == "budget_usd_day" else p.next_month
    period = "daily" if limit == "budget_usd_day" else "monthly"
    return BudgetExceeded(
        f"The {period} budget of {owner.label} (USD {getattr(owner.limits, limit)}) is spent; "
        f"it resets at {at.isoformat()}.",
        limit=limit,
        owner=owner.label,
        retry_after=math.ceil(p.reset_s(at)),
        headers=headers,
        resets_at=at.isoformat(),
    )


def admission_for(owners: tuple[Owner, ...], ask: Ask, p: Periods, rid: str, headers: dict[str, str]) -> Admission:
    return Admission(id=rid, owners=owners, ask=ask, minute=p.minute, day=p.day, month=p.month, headers=headers)


def held_tokens(admission: Admission) -> int:
    """The tokens admit counted in the minute (none for a request that reserved nothing)."""
    return admission.ask.tokens if admission.ask.hold else 0


# --- Redis unavailable ----------------------------------------------------------------
class FallbackLimiter:
    """`primary` (Redis) while it answers; `local` (this process: approximate) while not."""

    def __init__(self, primary: Limiter, local: Limiter) -> None:
        self.primary, self.local = primary, local
        self.down = False
        metrics.limits_exact.set(1)

    def _failed(self, exc: StateUnavailable) -> None:
        if not self.down:
            self.down = True
            metrics.limits_exact.set(0)
            log.warning("limits: Redis unavailable (%s); enforcing per process (approximate)", exc.__cause__)

    def _answered(self) -> None:
        if self.down:
            self.down = False
            metrics.limits_exact.set(1)
            log.warning("limits: Redis answers again; limits are exact across replicas")

    async def admit(self, owners: tuple[Owner, ...], ask: Ask) -> Admission:
        try:
            admission = await self.primary.admit(owners, ask)
        except StateUnavailable as exc:
            self._failed(exc)
            metrics.limits_fallback_total.labels("admit").inc()
            admission = await self.local.admit(owners, ask)
            admission.exact = False
            return admission
        self._answered()
        return admission

    async def settle(self, admission: Admission, *, tokens: int, cost: Decimal) -> tuple[Spend, ...]:
        if admission.exact:
            try:
                spends = await self.primary.settle(admission, tokens=tokens, cost=cost)
            except StateUnavailable as exc:
                # Its reservation expires in Redis; the cost counts here meanwhile.
                self._failed(exc)
                metrics.limits_fallback_total.labels("settle").inc()
            else:
                self._answered()
                return spends
        return await self.local.settle(admission, tokens=tokens, cost=cost)

    async def usage(self, owner: Owner) -> OwnerUsage:
        try:
            found = await self.primary.usage(owner)
        except StateUnavailable as exc:
            self._failed(exc)
            return replace(await self.local.usage(owner), exact=False)
        self._answered()
        return found

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.local.aclose()


def limiter_create(shared: object, *, clock: Clock = time.time) -> Limiter:
    """The engine for the gateway state's backend: Redis (with the per-process fallback)
    when it is a RedisState, this process's memory otherwise."""
    # Here, not at the top: the engines import their shared helpers from this module.
    from .limits_local import LocalLimiter  # noqa: PLC0415
    from .limits_redis import RedisLimiter  # noqa: PLC0415
    from .redis_state import RedisState  # noqa: PLC0415

    if isinstance(shared, RedisState):
        return FallbackLimiter(RedisLimiter(shared, clock=clock), LocalLimiter(clock=clock))
    metrics.limits_exact.set(1)
    return LocalLimiter(clock=clock)
