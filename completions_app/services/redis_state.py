"""Redis, when configured: the shared state of every replica.

Every call is bounded by REDIS_TIMEOUT_S. When Redis fails, it is marked down
for a few seconds and callers fall back to in-process state (cache bypassed,
breakers and key rotation local), so a Redis outage never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from django.conf import settings

log = logging.getLogger(__name__)
T = TypeVar("T")

DOWN_FOR_S = 2.0
PREFIX = "aiproxy:"


class RedisUnavailable(Exception):
    pass


class _Health:
    """Shared by the async and sync clients: one outage, one log line."""

    def __init__(self) -> None:
        self.down_until = 0.0

    def usable(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: BaseException) -> None:
        if self.usable():
            log.warning("redis unavailable (%s); using in-process state for %.0fs", type(exc).__name__, DOWN_FOR_S)
        self.down_until = time.monotonic() + DOWN_FOR_S


health = _Health()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None


def redis_configured() -> bool:
    return bool(settings.REDIS_URL)


def _async_client() -> aredis.Redis:
    # One client per event loop: redis.asyncio connections belong to the loop
    # that opened them (tests run many loops; `serve` runs one).
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        pool = aredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=200,
            timeout=settings.REDIS_TIMEOUT_S,
            socket_timeout=settings.REDIS_TIMEOUT_S,
            socket_connect_timeout=settings.REDIS_TIMEOUT_S,
        )
        client = _async_clients[loop] = aredis.Redis(connection_pool=pool)
    return client


async def redis_call(fn: Callable[[aredis.Redis], Awaitable[T]]) -> T:
    """Run fn(client), or raise RedisUnavailable (not configured, marked down, or failing now)."""
    if not settings.REDIS_URL or not health.usable():
        raise RedisUnavailable
    try:
        return await fn(_async_client())
    except (redis.RedisError, OSError, TimeoutError) as exc:
        health.failed(exc)
        raise RedisUnavailable from exc


def sync_client() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_TIMEOUT_S,
            socket_connect_timeout=settings.REDIS_TIMEOUT_S,
        )
    return _sync_client


def redis_call_sync(fn: Callable[[redis.Redis], Any]) -> Any:
    if not settings.REDIS_URL or not health.usable():
        raise RedisUnavailable
    try:
        return fn(sync_client())
    except (redis.RedisError, OSError, TimeoutError) as exc:
        health.failed(exc)
        raise RedisUnavailable from exc


async def redis_close_all() -> None:
    global _sync_client
    for client in list(_async_clients.values()):
        try:
            await client.aclose()
        except Exception:  # noqa: S110 - closing a client of a loop that is gone
            pass
    _async_clients.clear()
    if _sync_client is not None:
        _sync_client.close()
        _sync_client = None
