"""The `direct` transport: the SDK builds the request, the gateway's own aiohttp session sends it.

On the SDK transports every call runs the SDK's whole request path: options, URL and
header merging, an httpx2.Request, httpx2's client layers (auth, redirects, cookies) and,
for aiohttp, a shim that converts the request and the response. That was ~70 % of an
adapter's CPU per call (bench/RESULTS.md, step 10).

Here the SDK still decides what goes on the wire: for each (path, stream) capture.py has
the SDK build the request once, without sending it, and this module keeps its URL and
headers (auth, API version, user agent, whatever the SDK version adds), with the real key
put in. Each call then posts the JSON body with those headers on one aiohttp session per
adapter and event loop.

What is ours instead of the SDK's: timeouts (the same values, as aiohttp's connect and
read limits), the connection pool (the SDK's default size, its CA bundle), and reading
error statuses (errors.StatusError, classified like the SDK's APIStatusError). aiohttp's
exceptions are classified by errors.classify, as on the SDK's aiohttp transport.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .capture import KEY_PLACEHOLDER, Captured, Spec, capture
from .errors import StatusError
from .transport import CONNECT_TIMEOUT_CAP_S, LoopBound

# Set by aiohttp for each request or connection; accept-encoding: what aiohttp can decode.
# (x-stainless-retry-count stays "0": nothing here retries, the gateway fails over instead.)
_PER_REQUEST = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
# The SDKs' default pool: DEFAULT_CONNECTION_LIMITS in openai/anthropic `_constants.py`.
POOL_SIZE = 1000
KEEPALIVE_S = 5.0


class Template:
    """The URL and headers of one (path, stream), with the adapter's key, and the proxy to use."""

    def __init__(self, captured: Captured, api_key: str) -> None:
        self.url = captured.url
        self.headers = {
            k: v.replace(KEY_PLACEHOLDER, api_key) for k, v in captured.headers if k.lower() not in _PER_REQUEST
        }
        self.proxy = env_proxy(self.url)


def env_proxy(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / ALL_PROXY name for `url`, unless NO_PROXY exempts its host: what the
    SDKs' httpx2 clients use (trust_env). Looked up once per template, not per request."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


class DirectResponse:
    """The part of httpx2.Response the adapters read, over an aiohttp response."""

    __slots__ = ("_response", "content", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse, content: bytes = b"") -> None:
        self._response = response
        self.status_code = response.status
        self.headers = response.headers
        self.content = content

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def aclose(self) -> None:
        # At the end of the body the connection goes back to the pool; before it (the client
        # went away mid-stream) it is closed, so the upstream stops generating.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class DirectSender:
    """Posts JSON bodies with the SDK-built URL and headers; one aiohttp session per event loop."""

    def __init__(self, *, kind: str, base_url: str | None, api_key: str, timeout_s: float) -> None:
        self._kind, self._base_url, self._api_key, self._timeout_s = kind, base_url, api_key, timeout_s
        self._templates: dict[tuple[str, bool], Template] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=min(timeout_s, CONNECT_TIMEOUT_CAP_S), sock_read=timeout_s
        )
        self._sessions: LoopBound[aiohttp.ClientSession] = LoopBound(_new_session, _close_session)

    async def post(self, path: str, body: dict[str, Any], *, stream: bool = False) -> DirectResponse:
        template = self._templates.get((path, stream)) or await self._template(path, stream)
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        response = await self._sessions.get().post(
            template.url, data=data, headers=template.headers, timeout=self._timeout, proxy=template.proxy
        )
        try:
            if response.status >= 400:
                raise StatusError.of_content(response.status, response.headers, await response.read())
            if stream:
                return DirectResponse(response)
            return DirectResponse(response, await response.read())  # read() returns the connection
        except BaseException:
            response.close()  # no-op after a full read; else the connection is unusable
            raise

    async def prepare(self, path: str) -> None:
        await self._template(path, False)

    async def _template(self, path: str, stream: bool) -> Template:
        # Both forms of the path in one capture: a stream usually follows a complete, or the reverse.
        specs = tuple(Spec(self._kind, self._base_url, self._timeout_s, path, s) for s in (False, True))
        for spec, captured in zip(specs, await capture(specs), strict=True):
            self._templates[(path, spec.stream)] = Template(captured, self._api_key)
        return self._templates[(path, stream)]

    async def aclose(self) -> None:
        await self._sessions.aclose()


def _new_session() -> aiohttp.ClientSession:
    # certifi's CA bundle, as the SDKs' httpx2 clients use (when certifi is installed).
    try:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        context = ssl.create_default_context()
    connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_S, ssl=context, ttl_dns_cache=10)
    return aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()
    await asyncio.sleep(0)  # let the connector's transports finish closing
