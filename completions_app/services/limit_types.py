"""Budgets and rate limits: what a client key and its team may use, and the engine's
interface (limits.py implements it: in Redis, exact across replicas, or in-process).

A request must fit every limit of its key and of its key's team: its `owners`, the ones
with any limit set (an unlimited key without a limited team has none and pays nothing).
Reserve, then reconcile: `admit` checks and reserves atomically (one Redis round trip),
`settle` replaces the reservation by what the request really used (a second one); a
reservation of a process that died expires after its TTL, so no budget leaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

LIMIT_NAMES = ("rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month")


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None  # requests per minute (fixed one-minute windows)
    tpm: int | None = None  # input + output tokens per minute
    concurrency: int | None = None  # requests in flight
    budget_usd_day: Decimal | None = None  # per calendar day in TIME_ZONE
    budget_usd_month: Decimal | None = None  # per calendar month in TIME_ZONE
    alert_fractions: tuple[Decimal, ...] = ()  # of a budget: alert once per period when crossed
    alert_webhook_url: str = ""  # POSTed an alert (a Celery task), when set

    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose limits: a client key or a team."""

    kind: str  # "key" | "team"
    id: int
    name: str
    limits: Limits

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request asks of its owners' limits."""

    tokens: int  # reserved: an estimate of the input plus the most output it may get
    cost: Decimal  # reserved: the most it may cost at the requested model's prices
    hold: bool = True  # False for a cache hit: it counts as a request and reserves nothing


@dataclass(slots=True)
class Admission:
    """A request let in: settle it exactly once (its tokens and cost as recorded)."""

    id: str  # the reservation's id
    owners: tuple[Owner, ...]
    ask: Ask
    minute: int  # the epoch minute its tokens were counted in
    day: str  # "YYYY-MM-DD" in TIME_ZONE: the periods its cost is counted in
    month: str  # "YYYY-MM"
    headers: dict[str, str] = field(default_factory=dict)  # x-ratelimit-* for the answer
    exact: bool = True  # False when counted in this process only (Redis unavailable)


@dataclass(frozen=True, slots=True)
class Spend:
    """An owner's settled spend in the admission's periods, after a settle (for alerts)."""

    owner: Owner
    day_usd: Decimal
    month_usd: Decimal


@dataclass(frozen=True, slots=True)
class OwnerUsage:
    """What GET /v1/usage shows of one owner, now."""

    owner: Owner
    requests_this_minute: int
    tokens_this_minute: int  # reserved and settled
    in_flight: int
    spent_today_usd: Decimal  # settled
    spent_this_month_usd: Decimal
    reserved_usd: Decimal  # held by requests in flight
    minute_resets_in_s: float
    exact: bool


class Limiter(Protocol):
    async def admit(self, owners: tuple[Owner, ...], ask: Ask) -> Admission:
        """Check every limit of every owner and, if all fit, count and reserve atomically;
        else raise providers_app.errors.RateLimitExceeded / ConcurrencyLimitExceeded /
        BudgetExceeded (naming the limit and owner, with Retry-After and headers)."""
        ...

    async def settle(self, admission: Admission, *, tokens: int, cost: Decimal) -> tuple[Spend, ...]:
        """Replace the reservation by what was used (tokens and cost as recorded); idempotent
        per admission. Returns each owner's settled spend (budget alerts read it)."""
        ...

    async def usage(self, owner: Owner) -> OwnerUsage: ...

    async def aclose(self) -> None: ...
