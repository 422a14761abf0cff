"""The one upstream transport: JSON over the gateway's own aiohttp session.

Every adapter builds its provider's request itself (URL, auth and version headers, JSON
body: a few lines per kind, checked against the official SDK by tests/unit/adapters/
test_contract.py) and sends it here. One `UpstreamHttp` per adapter, so one connection pool
per provider key. Nothing here retries (the router fails over) and no redirect is followed:
a 3xx would POST the prompt to wherever the provider points, so it is an upstream fault.

Why not the SDKs' own HTTP clients: their per-call request path (option merging, httpx2's
client layers, the aiohttp shim) was ~70 % of an adapter's CPU per call, and they fix the
headers at client creation (docs/benchmarks.md, "one transport").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import aiohttp

from providers_app import json_bytes

from .errors import StatusError

try:  # certifi's CA bundle, as the SDKs use; the system's otherwise
    import certifi
except ImportError:  # pragma: no cover - installed with the SDKs
    certifi = None

T = TypeVar("T")

CONNECT_TIMEOUT_CAP_S = 10.0
# The SDKs' default pool size (DEFAULT_CONNECTION_LIMITS in openai/anthropic `_constants.py`).
POOL_SIZE = 1000
KEEPALIVE_S = 5.0
USER_AGENT = "aiproxy/1"


def env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / ALL_PROXY name for `url`, unless NO_PROXY exempts its host: what
    the SDKs' clients use (trust_env). Looked up once per adapter, not per request."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


class Response:
    """An upstream answer with a 2xx status: read (`content`) or, for a stream, unread."""

    __slots__ = ("_response", "content", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, content: bytes = b"") -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self.content = content

    def json(self) -> Any:
        """The decoded body; ValueError if it is not JSON (classified as malformed)."""
        return json.loads(self.content)

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def aclose(self) -> None:
        # At the end of the body the connection goes back to the pool; before it (the client
        # went away mid-stream) it is closed, so the upstream stops generating.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class LoopBound(Generic[T]):
    """One lazily created client per event loop; `aclose` closes the current one.

    aiohttp sessions belong to the loop that created them: tests and Celery tasks run one
    loop per call, `serve` runs one for its whole life."""

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
            asyncio.run_coroutine_threadsafe(self._closer(client), loop)


class UpstreamHttp:
    """Sends an adapter's requests: one aiohttp session (connection pool) per event loop.

    `timeout_s` bounds connecting (capped at 10 s) and every wait for the next bytes of the
    answer, as the SDKs' timeouts do; a stream may last longer in total."""

    def __init__(self, *, base_url: str, timeout_s: float) -> None:
        self.proxy = env_proxy(base_url)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=min(timeout_s, CONNECT_TIMEOUT_CAP_S), sock_read=timeout_s
        )
        self._sessions: LoopBound[aiohttp.ClientSession] = LoopBound(_new_session, _close_session)

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: Any = None, *, stream: bool = False
    ) -> Response:
        """Send; a status outside 2xx raises errors.StatusError with the body read. With
        stream=True the body is left unread: iterate `aiter_bytes()`, then `aclose()`."""
        response = await self._sessions.get().request(
            method,
            url,
            data=None if body is None else json_bytes.dumps(body),
            headers=headers,
            timeout=self._timeout,
            proxy=self.proxy,
            allow_redirects=False,
        )
        try:
            if not 200 <= response.status < 300:
                raise StatusError.of_content(response.status, response.headers, await response.read())
            if stream:
                return Response(response)
            return Response(response, await response.read())  # read() returns the connection
        except BaseException:
            response.close()  # no-op after a full read; else the connection is unusable
            raise

    async def aclose(self) -> None:
        await self._sessions.aclose()


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where() if certifi is not None else None)


def _new_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_S, ssl=_ssl_context(), ttl_dns_cache=10
    )
    # No cookie jar: a provider's cookies (a CDN's bot-check cookie, say) are not the gateway's
    # to keep and send back, and filtering a jar costs CPU on every request.
    return aiohttp.ClientSession(
        connector=connector, headers={"User-Agent": USER_AGENT}, cookie_jar=aiohttp.DummyCookieJar()
    )


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()
    await asyncio.sleep(0)  # let the connector's transports finish closing
