"""Client identities found by key hash, cached in-process for AUTH_CACHE_S.

A revoked or expired key stops working within that time. Unknown key hashes
are remembered apart, in a bounded negative cache (AUTH_MISS_S, AUTH_MISS_MAX),
so junk keys never evict known ones. Past AUTH_FAILURES_PER_MINUTE failures
from one address, its unknown keys are refused before any lookup
(auth_limit.py); known keys are still answered. While the database is down,
keys seen before keep working from this cache (for up to AUTH_STALE_S).

One lookup per key at a time: requests that find the entry expired wait for
the lookup already running instead of each starting their own (at 512 in
flight, every expiry used to start hundreds of lookups at once and stall the
event loop for seconds: docs/benchmarks.md). A busy key is refreshed shortly
before it expires, beside the request, so its requests rarely wait at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import OrderedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone

from providers_app.errors import ServiceUnavailable

from ..models import ClientKey, LimitFields, alert_fractions_parse
from .auth_limit import FailedAuthLimit, TooManyAuthFailures
from .db import db_run
from .limit_types import Limits, Owner
from .types import ClientIdentity

AUTH_CACHE_S = 5.0
AUTH_STALE_S = 3600.0  # how long a known key survives a database outage
AUTH_CACHE_MAX = 10_000
AUTH_MISS_S = 5.0  # how long an unknown key hash is answered 401 without a lookup
AUTH_MISS_MAX = 10_000
AUTH_REFRESH_AHEAD_S = 1.0  # a key used in the last second of its entry is looked up again beside the request

log = logging.getLogger(__name__)


def identity_lookup(key_hash: str) -> ClientIdentity | None:
    """The active client key with this hash, with its and its team's limits (sync: runs in a
    worker thread). Limit edits reach requests when the entry is next looked up (AUTH_CACHE_S)."""
    row = (
        ClientKey.objects.filter(key_hash=key_hash, active=True)
        .select_related("team")
        .prefetch_related("allowed_models")
        .first()
    )
    expires_at = row.expires_at if row is not None else None
    if row is None:
        # A rotated key's previous secret, inside its overlap window (client_key_rotate).
        row = (
            ClientKey.objects.filter(
                previous_key_hash=key_hash, previous_key_expires_at__gt=timezone.now(), active=True
            )
            .select_related("team")
            .prefetch_related("allowed_models")
            .first()
        )
        if row is None or not hmac.compare_digest(row.previous_key_hash, key_hash):
            return None
        window_end = row.previous_key_expires_at
        expires_at = window_end if row.expires_at is None else min(row.expires_at, window_end)
    elif not hmac.compare_digest(row.key_hash, key_hash):
        return None
    allowed = frozenset(m.name for m in row.allowed_models.all())
    owners = []
    if (limits := _limits(row)).any():
        owners.append(Owner(kind="key", id=row.id, name=row.name, limits=limits))
    team = row.team
    if team is not None and (limits := _limits(team)).any():
        owners.append(Owner(kind="team", id=team.id, name=team.name, limits=limits))
    return ClientIdentity(
        id=row.id,
        name=row.name,
        allowed_models=allowed or None,
        expires_at=expires_at,
        owners=tuple(owners),
        team=team.name if team is not None else "",
    )


def _limits(row: LimitFields) -> Limits:
    try:
        fractions = alert_fractions_parse(row.alert_fractions)
    except ValidationError:
        # Written around the validators (a raw UPDATE): the limits still hold, without alerts.
        log.warning(
            "%s %s: alert_fractions %r is not valid; no budget alerts", type(row).__name__, row, row.alert_fractions
        )
        fractions = ()
    return Limits(
        rpm=row.rpm,
        tpm=row.tpm,
        concurrency=row.concurrency,
        budget_usd_day=row.budget_usd_day,
        budget_usd_month=row.budget_usd_month,
        alert_fractions=fractions,
        alert_webhook_url=row.alert_webhook_url,
    )


class AuthCache:
    def __init__(self, failures_per_minute: int | None = None) -> None:
        self.entries: OrderedDict[str, tuple[float, ClientIdentity]] = OrderedDict()  # -> (expiry, identity)
        self.misses: OrderedDict[str, float] = OrderedDict()  # unknown key hash -> expiry
        self.limit = FailedAuthLimit(
            settings.AUTH_FAILURES_PER_MINUTE if failures_per_minute is None else failures_per_minute
        )
        self._lookups: dict[str, asyncio.Future[ClientIdentity | None]] = {}  # key hash -> the lookup running now

    def lookups_running(self) -> int:
        return len(self._lookups)

    async def identity(self, key_hash: str, address: str = "") -> ClientIdentity | None:
        """The identity behind this key hash (None: no such active key); ServiceUnavailable
        when the database is down and the key was not seen before; TooManyAuthFailures
        when the key is not known and `address` failed too often lately."""
        now = time.monotonic()
        hit = self.entries.get(key_hash)
        if hit is not None and hit[0] > now:
            if hit[0] - now < AUTH_REFRESH_AHEAD_S:
                self._lookup_shared(key_hash)  # not awaited: this request goes on with the entry it has
            return hit[1]
        # An unknown key starting a lookup is counted against its address before it runs
        # (concurrent guesses count at once) and forgiven if found; a request joining a
        # lookup already running for the same hash costs nothing and is counted after.
        reserved = False
        if hit is None and not self._running(key_hash):
            if (wait := self.limit.retry_after(address)) is not None:
                raise TooManyAuthFailures(retry_after=wait)
            self.limit.failed(address)
            miss = self.misses.get(key_hash)
            if miss is not None and miss > now:
                return None
            reserved = True
        try:
            identity = await asyncio.shield(self._lookup_shared(key_hash))
        except DatabaseError:
            if reserved:
                self.limit.forgive(address)
            # The database is down: a key we have seen keeps working (for up to
            # AUTH_STALE_S); one we have not cannot be checked.
            if hit is not None and now - hit[0] < AUTH_STALE_S:
                log.warning("database unavailable: client key %s… accepted from the auth cache", hit[1].name)
                return hit[1]
            raise ServiceUnavailable from None
        if reserved and identity is not None:
            self.limit.forgive(address)
        elif not reserved and hit is None and identity is None:
            self.limit.failed(address)
        return identity

    def _running(self, key_hash: str) -> bool:
        running = self._lookups.get(key_hash)
        return running is not None and not running.done() and running.get_loop() is asyncio.get_running_loop()

    def _lookup_shared(self, key_hash: str) -> asyncio.Future[ClientIdentity | None]:
        """The lookup of this key already running on this loop, or a new one; it fills the cache."""
        loop = asyncio.get_running_loop()
        running = self._lookups.get(key_hash)
        if running is not None and not running.done() and running.get_loop() is loop:
            return running
        future = loop.create_task(self._lookup_and_cache(key_hash))
        self._lookups[key_hash] = future
        future.add_done_callback(lambda f: self._lookup_done(key_hash, f))
        return future

    async def _lookup_and_cache(self, key_hash: str) -> ClientIdentity | None:
        identity = await db_run(lambda: identity_lookup(key_hash))
        now = time.monotonic()
        if identity is None:
            self.entries.pop(key_hash, None)  # revoked: gone at once
            self.misses[key_hash] = now + AUTH_MISS_S
            self.misses.move_to_end(key_hash)
            while len(self.misses) > AUTH_MISS_MAX:
                self.misses.popitem(last=False)
            return None
        self.misses.pop(key_hash, None)
        self.entries[key_hash] = (now + AUTH_CACHE_S, identity)
        self.entries.move_to_end(key_hash)
        while len(self.entries) > AUTH_CACHE_MAX:
            self.entries.popitem(last=False)
        return identity

    def _lookup_done(self, key_hash: str, future: asyncio.Future) -> None:
        if self._lookups.get(key_hash) is future:
            del self._lookups[key_hash]
        if not future.cancelled():
            with contextlib.suppress(Exception):
                future.exception()  # a refresh-ahead nobody awaited must not log "never retrieved"

    def clear(self) -> None:
        self.entries.clear()
        self.misses.clear()
        self._lookups.clear()
