"""HTTP transport of the SDK clients: timeouts, the aiohttp/httpx choice, and loop binding.

The anthropic and openai SDKs run on `httpx2`; their `DefaultAioHttpClient` swaps the
transport for aiohttp. bench/TRANSPORT.md has the measurement behind the default.

aiohttp sessions belong to the event loop that created them, so SDK clients are made
lazily on first use inside the running loop, and remade if the adapter is later used
from another loop (tests, Celery tasks that call asyncio.run per task). An adapter serves
one loop at a time: moving to a new loop closes the client of the old one. Code that runs
one loop per call should `await adapter.aclose()` before its loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import httpx2

# aiohttp / httpx: the SDK's whole request path, on its aiohttp or its default httpx2 client.
# direct: the SDK builds URL and headers once, the gateway's aiohttp session sends (direct.py).
TRANSPORTS = ("aiohttp", "httpx", "direct")
# direct: ~3x less gateway CPU per request than aiohttp (bench/RESULTS.md, step 10), which in
# turn is faster than httpx (bench/TRANSPORT.md).
DEFAULT_TRANSPORT = "direct"
CONNECT_TIMEOUT_CAP_S = 10.0

T = TypeVar("T")


def sdk_timeout(timeout_s: float) -> httpx2.Timeout:
    """Read/write/pool = timeout_s (an idle limit between bytes), connect capped at 10 s."""
    import httpx2  # here, not at the top: the ollama adapter uses this module but not httpx2

    return httpx2.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_CAP_S))


def check_transport(transport: str) -> str:
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}; expected one of {TRANSPORTS}")
    return transport


class LoopBound(Generic[T]):
    """One lazily created client per event loop; `aclose` closes the current one."""

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], Awaitable[None]]) -> None:
        self._factory = factory
        self._closer = closer
        self._client: T | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._close_elsewhere(self._client, self._loop)
            self._client, self._loop = self._factory(), loop
        return self._client

    async def aclose(self) -> None:
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is None:
            return
        if loop is asyncio.get_running_loop():
            await self._closer(client)
        else:
            self._close_elsewhere(client, loop)

    def _close_elsewhere(self, client: T | None, loop: asyncio.AbstractEventLoop | None) -> None:
        # A client must be closed on its own loop. If that loop still runs (another thread),
        # ask it to; if it is gone, its sockets went with it and there is nothing to await.
        if client is None or loop is None or loop.is_closed() or not loop.is_running():
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(_close(self._closer, client), loop)


async def _close(closer: Callable[[T], Awaitable[None]], client: T) -> None:
    await closer(client)
