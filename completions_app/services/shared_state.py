"""The shared-state backend: the few async key-value operations the gateway's
pieces need (breaker board, keyring, response cache), behind one interface.

Chosen once, when the gateway state is created (gateway_state.py): Redis when
REDIS_URL is configured (redis_state.RedisState, shared by every replica),
this process's memory otherwise (LocalState). Values are strings.

A backend that cannot answer raises StateUnavailable. Pieces that must keep
working through a Redis outage (breakers, key rotation) use
`Fallback(redis, LocalState())`, which answers from this process's memory
while Redis is down; the response cache uses the backend directly and treats
StateUnavailable as a miss.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol


class StateUnavailable(Exception):
    """The backend did not answer (not reachable, timed out, or marked down)."""


class SharedState(Protocol):
    # Whether other processes see what this one writes (the breaker refreshes
    # its snapshot only then).
    distributed: bool

    async def get(self, key: str) -> str | None: ...

    async def mget(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        """Store value (expiring after ttl_s); with nx only if the key is absent. True when stored."""
        ...

    async def incr(self, key: str) -> int: ...

    async def incr_mget(self, key: str, keys: Sequence[str]) -> tuple[int, list[str | None]]:
        """INCR key, then MGET keys, in one round trip."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


class LocalState:
    """In-process backend. With max_entries, the least recently used keys are
    dropped past that size (for the response cache; coordination keys, a few
    per provider and key, use an unbounded instance)."""

    distributed = False

    def __init__(self, *, max_entries: int | None = None) -> None:
        self._data: OrderedDict[str, tuple[float | None, str]] = OrderedDict()  # key -> (monotonic expiry, value)
        self._max = max_entries

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        if self._max is not None:
            self._data.move_to_end(key)
        return value

    def _store(self, key: str, value: str, ttl_s: float | None) -> None:
        self._data[key] = (time.monotonic() + ttl_s if ttl_s is not None else None, value)
        if self._max is not None:
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def _incr(self, key: str) -> int:
        current = self._live(key)
        n = int(current or 0) + 1
        expires = self._data[key][0] if current is not None else None  # INCR keeps a TTL
        self._data[key] = (expires, str(n))
        return n

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        return [self._live(k) for k in keys]

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        if nx and self._live(key) is not None:
            return False
        self._store(key, value, ttl_s)
        return True

    async def incr(self, key: str) -> int:
        return self._incr(key)

    async def incr_mget(self, key: str, keys: Sequence[str]) -> tuple[int, list[str | None]]:
        return self._incr(key), [self._live(k) for k in keys]

    async def delete(self, *keys: str) -> None:
        for k in keys:
            self._data.pop(k, None)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._data.clear()


class Fallback:
    """`primary` while it answers; `local` (this process's memory) while it does not.

    What was written locally during an outage is not copied back: when Redis
    returns, its state is the truth again (a breaker re-learns within its
    refresh interval, a cooldown at worst costs one more 429)."""

    def __init__(self, primary: SharedState, local: LocalState) -> None:
        self.primary = primary
        self.local = local
        self.distributed = primary.distributed

    async def get(self, key: str) -> str | None:
        try:
            return await self.primary.get(key)
        except StateUnavailable:
            return await self.local.get(key)

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        try:
            return await self.primary.mget(keys)
        except StateUnavailable:
            return await self.local.mget(keys)

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        try:
            return await self.primary.set(key, value, ttl_s=ttl_s, nx=nx)
        except StateUnavailable:
            return await self.local.set(key, value, ttl_s=ttl_s, nx=nx)

    async def incr(self, key: str) -> int:
        try:
            return await self.primary.incr(key)
        except StateUnavailable:
            return await self.local.incr(key)

    async def incr_mget(self, key: str, keys: Sequence[str]) -> tuple[int, list[str | None]]:
        try:
            return await self.primary.incr_mget(key, keys)
        except StateUnavailable:
            return await self.local.incr_mget(key, keys)

    async def delete(self, *keys: str) -> None:
        try:
            await self.primary.delete(*keys)
        except StateUnavailable:
            await self.local.delete(*keys)

    async def ping(self) -> bool:
        return await self.primary.ping()

    async def aclose(self) -> None:
        await self.primary.aclose()
        await self.local.aclose()
