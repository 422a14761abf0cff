"""Client-key authentication: hash the presented key, find it, check it.

Identities are found through the gateway state's auth cache (auth_cache.py),
which keeps the ORM off the hot path.
"""

from __future__ import annotations

import re

from django.utils import timezone

from providers_app.errors import AuthenticationFailed

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


async def client_authenticate(presented: str | None) -> ClientIdentity:
    """The identity behind a presented key, or AuthenticationFailed (ServiceUnavailable
    when the database is down and the key was not seen before)."""
    if not presented or len(presented) > MAX_PRESENTED_KEY_LEN or not _KEY_SHAPE.fullmatch(presented):
        raise AuthenticationFailed
    identity = await gateway_state().auth.identity(client_key_hash(presented))
    if identity is None:
        raise AuthenticationFailed
    if identity.expires_at is not None and identity.expires_at <= timezone.now():
        raise AuthenticationFailed("This client key has expired.")
    return identity


def auth_cache_clear() -> None:
    """Forget the cached identities (a key revoked now stops working at once)."""
    gateway_state().auth.clear()
