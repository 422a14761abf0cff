"""The `direct` transport: the SDK builds the request, the gateway's own aiohttp session sends it.

On the default transports every call runs the SDK's whole request path: options, URL
and header merging, an httpx2.Request, httpx2's client layers (auth, redirects, cookies)
and, for aiohttp, a shim that converts the request and the response. That is ~70 % of an
adapter's CPU per call (bench/RESULTS.md, step 10).

Here the SDK still decides what goes on the wire: once per (path, stream) this module has
the SDK client send one request into a capturing httpx2 transport (the SDK's public
`http_client` hook; nothing leaves the process) and keeps the URL and headers it built:
auth, API version, user agent, whatever the SDK version adds. Each call then posts the
JSON body with those headers on one aiohttp session per adapter and event loop.

What is ours instead of the SDK's: timeouts (the same values, as aiohttp's connect and
read limits), the connection pool (the SDK's default size), and reading error statuses
(errors.status_error builds the same gateway error from status, headers and body).
aiohttp's exceptions are classified by errors.classify like the shim's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx2

from .errors import StatusError
from .transport import CONNECT_TIMEOUT_CAP_S, LoopBound

# Set by aiohttp for each request or connection; accept-encoding: what aiohttp can decode.
# (x-stainless-retry-count stays "0": nothing here retries, the gateway fails over instead.)
_PER_REQUEST = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
# The SDKs' default pool: DEFAULT_CONNECTION_LIMITS in openai/anthropic `_constants.py`.
POOL_SIZE = 1000
KEEPALIVE_S = 5.0


class _Capture(httpx2.AsyncBaseTransport):
    """Records the request the SDK sends and answers it with an empty JSON object."""

    def __init__(self) -> None:
        self.request: httpx2.Request | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.request = request
        return httpx2.Response(200, json={}, request=request)


class Template:
    """URL and headers the SDK builds for one (path, stream), and its request for SDK errors."""

    def __init__(self, request: httpx2.Request) -> None:
        self.request = request
        self.url = str(request.url)
        self.headers = {k: v for k, v in request.headers.items() if k.lower() not in _PER_REQUEST}


class DirectResponse:
    """The part of httpx2.Response the adapters read, over an aiohttp response."""

    __slots__ = ("_response", "content", "headers", "request", "status_code")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request, content: bytes = b"") -> None:
        self._response = response
        self.request = request
        self.status_code = response.status
        self.headers = response.headers
        self.content = content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        async for data in self._response.content.iter_any():
            yield data

    async def aclose(self) -> None:
        # At the end of the body the connection goes back to the pool; before it (the client
        # went away mid-stream) it is closed, so the upstream stops generating.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class DirectSender:
    """Posts JSON bodies with the SDK-built URL and headers; one aiohttp session per event loop."""

    def __init__(self, make_sdk_client: Callable[[httpx2.AsyncClient], Any], timeout_s: float, options: dict) -> None:
        self._make_sdk_client = make_sdk_client
        self._options = options
        self._templates: dict[tuple[str, bool], Template] = {}
        self._capturing: dict[tuple[str, bool], asyncio.Future[Template]] = {}
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=min(timeout_s, CONNECT_TIMEOUT_CAP_S), sock_read=timeout_s
        )
        self._sessions: LoopBound[aiohttp.ClientSession] = LoopBound(self._new_session, _close_session)

    async def post(self, path: str, body: dict[str, Any], *, stream: bool = False) -> DirectResponse:
        template = self._templates.get((path, stream)) or await self._template(path, stream)
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        response = await self._sessions.get().post(
            template.url, data=data, headers=template.headers, timeout=self._timeout
        )
        try:
            if response.status >= 400:
                content = await response.read()
                raise StatusError(response.status, response.headers, content)
            if stream:
                return DirectResponse(response, template.request)
            return DirectResponse(response, template.request, await response.read())
        except BaseException:
            response.close()
            raise
        finally:
            if not stream:
                response.release()

    async def _template(self, path: str, stream: bool) -> Template:
        # One capture for all the calls that arrive before the first one is done; shielded,
        # so a caller that goes away does not cancel it for the others.
        key = (path, stream)
        future = self._capturing.get(key)
        if future is None:
            future = self._capturing[key] = asyncio.ensure_future(self._capture(path, stream))
            future.add_done_callback(lambda _: self._capturing.pop(key, None))
        return await asyncio.shield(future)

    async def _capture(self, path: str, stream: bool) -> Template:
        capture = _Capture()
        async with httpx2.AsyncClient(transport=capture) as http_client:
            client = self._make_sdk_client(http_client)
            await client.post(path, body={}, cast_to=httpx2.Response, options=self._options, stream=stream)
        assert capture.request is not None  # noqa: S101 - the SDK sent exactly one request
        template = self._templates[(path, stream)] = Template(capture.request)
        return template

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_S, ssl=httpx2.create_ssl_context(), ttl_dns_cache=10
        )
        return aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))

    async def aclose(self) -> None:
        await self._sessions.aclose()


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()
    await asyncio.sleep(0)  # let the connector's transports finish closing
