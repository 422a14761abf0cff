"""Client-key authentication: hash the presented key, find it, check it.

Found identities are cached in-process for AUTH_CACHE_S seconds (so a revoked
or expired key stops working within that time) to keep the ORM off the hot
path; misses are cached too. While the database is down, keys seen before
keep working from this cache, so a flood of junk keys costs one lookup each
at most per interval and never a thread hop storm.

One lookup per key at a time: requests that find the entry expired wait for
the lookup already running instead of each starting their own (at 512 in
flight, every expiry used to start hundreds of lookups at once and stall the
event loop for seconds: bench/RESULTS.md). A busy key is refreshed shortly
before it expires, beside the request, so its requests rarely wait at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import time
from collections import OrderedDict

from django.db import DatabaseError
from django.utils import timezone

from aiproxy.errors import AuthenticationFailed, ServiceUnavailable

from ..models import ClientKey
from .client_keys import MAX_PRESENTED_KEY_LEN, client_key_hash
from .db import db_run
from .types import ClientIdentity

AUTH_CACHE_S = 5.0
AUTH_STALE_S = 3600.0  # how long a known key survives a database outage
AUTH_CACHE_MAX = 10_000
AUTH_REFRESH_AHEAD_S = 1.0  # a key used in the last second of its entry is looked up again beside the request
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-.~+/=]+")

log = logging.getLogger(__name__)
_cache: OrderedDict[str, tuple[float, ClientIdentity | None]] = OrderedDict()
_lookups: dict[str, asyncio.Future[ClientIdentity | None]] = {}  # key hash -> the lookup running now


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer …` or `x-api-key`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return x_api_key.strip() if x_api_key else None


def _lookup(key_hash: str) -> ClientIdentity | None:
    row = ClientKey.objects.filter(key_hash=key_hash, active=True).prefetch_related("allowed_models").first()
    if row is None or not hmac.compare_digest(row.key_hash, key_hash):
        return None
    allowed = frozenset(m.name for m in row.allowed_models.all())
    return ClientIdentity(id=row.id, name=row.name, allowed_models=allowed or None, expires_at=row.expires_at)


async def client_authenticate(presented: str | None) -> ClientIdentity:
    """The identity behind a presented key, or AuthenticationFailed."""
    if not presented or len(presented) > MAX_PRESENTED_KEY_LEN or not _KEY_SHAPE.fullmatch(presented):
        raise AuthenticationFailed
    key_hash = client_key_hash(presented)
    now = time.monotonic()
    hit = _cache.get(key_hash)
    if hit is not None and hit[0] > now:
        identity = hit[1]
        if hit[0] - now < AUTH_REFRESH_AHEAD_S and identity is not None:
            _lookup_shared(key_hash)  # not awaited: this request goes on with the entry it has
    else:
        try:
            identity = await asyncio.shield(_lookup_shared(key_hash))
        except DatabaseError:
            # The database is down: a key we have seen keeps working (for up to
            # AUTH_STALE_S); one we have not cannot be checked.
            if hit is not None and hit[1] is not None and now - hit[0] < AUTH_STALE_S:
                log.warning("database unavailable: client key %s… accepted from the auth cache", hit[1].name)
                identity = hit[1]
            else:
                raise ServiceUnavailable from None
            return _check_expiry(identity)
    if identity is None:
        raise AuthenticationFailed
    return _check_expiry(identity)


def _lookup_shared(key_hash: str) -> asyncio.Future[ClientIdentity | None]:
    """The lookup of this key already running on this loop, or a new one; it fills the cache."""
    loop = asyncio.get_running_loop()
    running = _lookups.get(key_hash)
    if running is not None and not running.done() and running.get_loop() is loop:
        return running
    future = loop.create_task(_lookup_and_cache(key_hash))
    _lookups[key_hash] = future
    future.add_done_callback(lambda f: _lookup_done(key_hash, f))
    return future


async def _lookup_and_cache(key_hash: str) -> ClientIdentity | None:
    identity = await db_run(lambda: _lookup(key_hash))
    _cache[key_hash] = (time.monotonic() + AUTH_CACHE_S, identity)
    _cache.move_to_end(key_hash)
    while len(_cache) > AUTH_CACHE_MAX:
        _cache.popitem(last=False)
    return identity


def _lookup_done(key_hash: str, future: asyncio.Future) -> None:
    if _lookups.get(key_hash) is future:
        del _lookups[key_hash]
    if not future.cancelled():
        with contextlib.suppress(Exception):
            future.exception()  # a refresh-ahead nobody awaited must not log "never retrieved"


def _check_expiry(identity: ClientIdentity) -> ClientIdentity:
    if identity.expires_at is not None and identity.expires_at <= timezone.now():
        raise AuthenticationFailed("This client key has expired.")
    return identity


def auth_cache_clear() -> None:
    _cache.clear()
    _lookups.clear()
