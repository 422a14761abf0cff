"""The Redis backend of the shared state (shared_state.SharedState): what every
replica sees. Async only: nothing here blocks the event loop.

Every call is bounded by the timeout (REDIS_TIMEOUT_S). When one fails,
Redis is marked down for DOWN_FOR_S and every call raises StateUnavailable at
once until then, so an outage costs one timeout, not one per request; callers
fall back to in-process state (shared_state.Fallback) or skip (the cache).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis
import redis.asyncio as aredis

from .shared_state import StateUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

DOWN_FOR_S = 2.0
PREFIX = "aiproxy:"
MAX_CONNECTIONS = 200  # redis-py's async pool raises past its size: a blocking pool waits instead


class RedisState:
    distributed = True

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.down_until = 0.0
        self.round_trips = 0  # commands or pipelines sent (tests count them; cheap enough to keep)
        # One client per event loop: redis.asyncio connections belong to the loop
        # that opened them (tests run many loops; `serve` runs one).
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = weakref.WeakKeyDictionary()

    def _client(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            pool = aredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=MAX_CONNECTIONS,
                timeout=self.timeout_s,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                decode_responses=True,
            )
            client = self._clients[loop] = aredis.Redis(connection_pool=pool)
        return client

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    async def _call(self, fn: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        if time.monotonic() < self.down_until:
            raise StateUnavailable
        self.round_trips += 1
        try:
            return await fn(self._client())
        except (redis.RedisError, OSError, TimeoutError) as exc:
            if self.usable():
                log.warning("redis unavailable (%s); using in-process state for %.0fs", type(exc).__name__, DOWN_FOR_S)
            self.down_until = time.monotonic() + DOWN_FOR_S
            raise StateUnavailable from exc

    async def get(self, key: str) -> str | None:
        return await self._call(lambda r: r.get(PREFIX + key))

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return await self._call(lambda r: r.mget([PREFIX + k for k in keys]))

    async def set(self, key: str, value: str, *, ttl_s: float | None = None, nx: bool = False) -> bool:
        px = max(1, int(ttl_s * 1000)) if ttl_s is not None else None
        return bool(await self._call(lambda r: r.set(PREFIX + key, value, px=px, nx=nx)))

    async def incr(self, key: str) -> int:
        return int(await self._call(lambda r: r.incr(PREFIX + key)))

    async def incr_mget(self, key: str, keys: Sequence[str]) -> tuple[int, list[str | None]]:
        async def pipelined(r: aredis.Redis) -> list:
            pipe = r.pipeline(transaction=False)
            pipe.incr(PREFIX + key)
            pipe.mget([PREFIX + k for k in keys])
            return await pipe.execute()

        n, values = await self._call(pipelined)
        return int(n), values

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._call(lambda r: r.delete(*(PREFIX + k for k in keys)))

    async def ping(self) -> bool:
        return bool(await self._call(lambda r: r.ping()))

    async def aclose(self) -> None:
        """Close the client of the running loop (the others' loops are gone or not ours to touch)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        client = self._clients.pop(loop, None) if loop is not None else None
        self._clients.clear()
        if client is not None:
            await client.aclose()
