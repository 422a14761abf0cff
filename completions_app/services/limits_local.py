"""Budgets and rate limits in this process's memory (no REDIS_URL, or Redis unavailable).

The same semantics as limits_redis.RedisLimiter, from the same helpers (limits.py). Each
step runs without an await, so on the one event loop it is atomic like the Lua script.
Exact for one process; with several workers and no Redis each counts its own requests.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from decimal import Decimal

from .limit_types import Admission, Ask, Owner, OwnerUsage, Spend
from .limits import (
    MINUTE_KEEP_S,
    Clock,
    Counts,
    Periods,
    admission_for,
    first_over,
    held_tokens,
    limit_args,
    nanos_up,
    periods_at,
    rate_headers,
    refusal,
    reservation_ttl_s,
    usd,
)


@dataclass(slots=True)
class _Ledger:
    """One owner's counters."""

    minutes: dict[int, list[int]] = field(default_factory=dict)  # epoch minute -> [requests, tokens]
    reserved: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (nano-dollars, expiry)
    held: int = 0
    days: dict[str, int] = field(default_factory=dict)  # settled nano-dollars
    months: dict[str, int] = field(default_factory=dict)

    def purge(self, now: float) -> None:
        # Insertion order is expiry order (one TTL): drop from the oldest until a live one.
        reserved = self.reserved
        while reserved:
            rid, (cost, expiry) = next(iter(reserved.items()))
            if expiry > now:
                return
            del reserved[rid]
            self.held -= cost

    def minute(self, minute: int) -> list[int]:
        counts = self.minutes.get(minute)
        if counts is None:
            # Older minutes are gone (Redis expires them after MINUTE_KEEP_S).
            keep = minute - MINUTE_KEEP_S // 60
            for old in [m for m in self.minutes if m < keep]:
                del self.minutes[old]
            counts = self.minutes[minute] = [0, 0]
        return counts

    def counts(self, p: Periods) -> Counts:
        r, t = self.minutes.get(p.minute, (0, 0))
        return Counts(
            requests=r,
            tokens=t,
            live=len(self.reserved),
            held=self.held,
            day=self.days.get(p.day, 0),
            month=self.months.get(p.month, 0),
        )

    def spend(self, day: str, month: str, amount: int) -> None:
        # Only this period and the last are kept (a late settle may still count in the last).
        for book, period in ((self.days, day), (self.months, month)):
            book[period] = book.get(period, 0) + amount
            if len(book) > 2:
                del book[min(book)]


class LocalLimiter:
    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self.ttl_s = reservation_ttl_s()  # read once: settings do not change while serving
        self._ledgers: dict[str, _Ledger] = {}
        self._settled: dict[str, float] = {}  # admission id -> until when a second settle is ignored

    def _ledger(self, owner: Owner) -> _Ledger:
        ledger = self._ledgers.get(owner.ref)
        if ledger is None:
            ledger = self._ledgers[owner.ref] = _Ledger()
        return ledger

    async def admit(self, owners: tuple[Owner, ...], ask: Ask) -> Admission:
        p = periods_at(self.clock())
        rid = os.urandom(12).hex()
        if not owners:
            return admission_for(owners, ask, p, rid, {})
        tokens = ask.tokens if ask.hold else 0
        cost = nanos_up(ask.cost) if ask.hold else 0
        ledgers = [self._ledger(o) for o in owners]
        counts = []
        for ledger in ledgers:
            if ask.hold:
                ledger.purge(p.now)
            counts.append(ledger.counts(p))
        for owner, c in zip(owners, counts, strict=True):
            over = first_over(limit_args(owner), c, tokens=tokens, cost=cost, hold=ask.hold)
            if over is not None:
                raise refusal(owner, over, p, rate_headers(owners, counts, p.minute_reset_s))
        expiry = p.now + self.ttl_s
        for ledger, c in zip(ledgers, counts, strict=True):
            window = ledger.minute(p.minute)
            window[0] += 1
            window[1] += tokens
            c.requests, c.tokens = window
            if ask.hold:
                ledger.reserved[rid] = (cost, expiry)
                ledger.held += cost
        return admission_for(owners, ask, p, rid, rate_headers(owners, counts, p.minute_reset_s))

    async def settle(self, admission: Admission, *, tokens: int, cost: Decimal) -> tuple[Spend, ...]:
        if not admission.owners:
            return ()
        now = self.clock()
        first = admission.id not in self._settled
        if first:
            self._forget_settled(now)
            self._settled[admission.id] = now + self.ttl_s + 60
        amount = nanos_up(cost)
        delta = tokens - held_tokens(admission)
        spends = []
        for owner in admission.owners:
            ledger = self._ledger(owner)
            if first:
                found = ledger.reserved.pop(admission.id, None)
                if found is not None:
                    ledger.held -= found[0]
                window = ledger.minutes.get(admission.minute)
                if window is not None:
                    window[1] = max(0, window[1] + delta)
                ledger.spend(admission.day, admission.month, amount)
            spends.append(
                Spend(
                    owner=owner,
                    day_usd=usd(ledger.days.get(admission.day, 0)),
                    month_usd=usd(ledger.months.get(admission.month, 0)),
                )
            )
        return tuple(spends)

    def _forget_settled(self, now: float) -> None:
        # Insertion order is expiry order (one TTL): drop from the oldest until a live one.
        while self._settled:
            rid, until = next(iter(self._settled.items()))
            if until > now:
                return
            del self._settled[rid]

    async def usage(self, owner: Owner) -> OwnerUsage:
        p = periods_at(self.clock())
        ledger = self._ledger(owner)
        ledger.purge(p.now)
        c = ledger.counts(p)
        return OwnerUsage(
            owner=owner,
            requests_this_minute=c.requests,
            tokens_this_minute=c.tokens,
            in_flight=c.live,
            spent_today_usd=usd(c.day),
            spent_this_month_usd=usd(c.month),
            reserved_usd=usd(c.held),
            minute_resets_in_s=p.minute_reset_s,
            exact=True,
        )

    async def aclose(self) -> None:
        self._ledgers.clear()
        self._settled.clear()
