"""Client-key authentication: hash the presented key, find it, check it; count the
failures per client address (auth_limit.py).

Identities are found through the gateway state's auth cache (auth_cache.py),
which keeps the ORM off the hot path.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from providers_app.errors import AuthenticationFailed

from .auth_limit import TooManyAuthFailures
from .client_address import IpNetwork, client_address, trusted_networks
from .client_keys import MAX_PRESENTED_KEY_LEN, client_key_hash
from .gateway_state import gateway_state
from .types import ClientIdentity

_KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-.~+/=]+")


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer …` or `x-api-key`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return x_api_key.strip() if x_api_key else None


async def client_authenticate(presented: str | None, address: str = "") -> ClientIdentity:
    """The identity behind a presented key, or AuthenticationFailed (ServiceUnavailable
    when the database is down and the key was not seen before; TooManyAuthFailures when
    the key is not known and `address`, the client's, has failed too often this minute)."""
    if not presented:
        raise AuthenticationFailed  # no guess made: not counted
    cache = gateway_state().auth
    if len(presented) > MAX_PRESENTED_KEY_LEN or not _KEY_SHAPE.fullmatch(presented):
        if (wait := cache.limit.retry_after(address)) is not None:
            raise TooManyAuthFailures(retry_after=wait)
        cache.limit.failed(address)
        raise AuthenticationFailed
    identity = await cache.identity(client_key_hash(presented), address)  # counts unknown keys
    if identity is None:
        raise AuthenticationFailed
    if identity.expires_at is not None and identity.expires_at <= timezone.now():
        cache.limit.failed(address)
        raise AuthenticationFailed("This client key has expired.")
    return identity


def client_address_of(peer: str | None, forwarded_for: str | None) -> str:
    """The client's address for the failed-auth limit (TRUSTED_PROXIES decides whether
    X-Forwarded-For is read)."""
    return client_address(peer, forwarded_for, _trusted(tuple(settings.TRUSTED_PROXIES)))


@lru_cache(maxsize=4)
def _trusted(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return trusted_networks(entries)


def auth_cache_clear() -> None:
    """Forget the cached identities (a key revoked now stops working at once)."""
    gateway_state().auth.clear()
