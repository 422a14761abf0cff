"""The direct ASGI route that serves every /v1 request.

Django's handler builds an ASGIRequest (META dict, lazy streams, a spooled body file),
resolves the URL, and goes through DRF's APIView (request wrapping, negotiation,
finalize_response) before and after every call: ~20 % of the gateway's CPU per request in
the c16 profile (docs/benchmarks.md), and DRF + drf-spectacular in every process's memory.
Here the API calls (native.py, openai_compat.py, messages.py: parsing, auth, the service, rendering)
run on a small request object read straight from the ASGI scope, and their replies are sent
as ASGI messages. What Django did on the way is done here too: the Host header is checked
against ALLOWED_HOSTS, the body is capped at MAX_REQUEST_BYTES, unknown paths get a 404
and other methods a 405 (HEAD is GET without the body), and a client that disconnects
cancels the call (and with it the upstream request or stream). Paths are matched exactly,
except a declared path ending in a parameter ("/v1/models/{model}"), whose value is passed to
the call by name (`templated`). SERVED pairs each call with
its declared operation (declarations.py): the OpenAPI document's /v1 paths are made from
that same list (openapi.py), so what is served is what is documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import Awaitable, Callable
from email.header import Header
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http.request import split_domain_port, validate_host

from aiproxy.http_guard import CLIENT_WATCH, ClientWatch
from providers_app.errors import PayloadTooLarge

from . import declarations as v1
from .common import ApiRequest
from .embeddings import embeddings_create
from .errors import HttpError, anthropic_error_reply, error_reply
from .messages import messages_create
from .messages_count import messages_count_tokens
from .native import complete, health, providers_status
from .openai_compat import chat_completions, models_list, models_retrieve
from .parsing import request_id_for
from .replies import JSON_TYPE, SSE_TYPE, JsonReply, Reply
from .usage import usage_get

Call = Callable[[ApiRequest], Awaitable[Reply]]
SERVED: tuple[tuple[v1.Operation, Call], ...] = (
    (v1.CHAT_COMPLETIONS, chat_completions),
    (v1.COMPLETE, complete),
    (v1.EMBEDDINGS, embeddings_create),
    (v1.MODELS, models_list),
    (v1.MODEL_RETRIEVE, models_retrieve),
    (v1.HEALTH_CHECK, health),
    (v1.PROVIDERS_STATUS, providers_status),
    (v1.USAGE_GET, usage_get),
    (v1.MESSAGES, messages_create),
    (v1.MESSAGES_COUNT_TOKENS, messages_count_tokens),
)
# Paths whose errors are in another shape than errors.error_reply's (Anthropic's, on /v1/messages):
# every error there, a 405 or a 413 before the call included.
ERROR_REPLIES: dict[str, Callable[[BaseException, str], JsonReply]] = {
    v1.MESSAGES.path: anthropic_error_reply,
    v1.MESSAGES_COUNT_TOKENS.path: anthropic_error_reply,
}


def route_table(served: tuple[tuple[v1.Operation, Call], ...]) -> dict[str, dict[str, Call]]:
    """{path: {method: call}}, from the served operations."""
    table: dict[str, dict[str, Call]] = {}
    for op, call in served:
        if op.method in table.get(op.path, {}):
            raise ValueError(f"{op.method} {op.path} is served twice")
        table.setdefault(op.path, {})[op.method] = call
    return table


def templated(table: dict[str, dict[str, Call]]) -> tuple[tuple[str, str, dict[str, Call]], ...]:
    """(prefix, parameter, methods) for the paths that end in one parameter ("/v1/models/{model}"):
    the parameter is the rest of the path, slashes included, and is passed to the call by name."""
    out = []
    for path, methods in table.items():
        prefix, brace, name = path.partition("{")
        if brace:
            if not (name.endswith("}") and name[:-1].isidentifier()):
                raise ValueError(f"{path}: only a last path segment can be a parameter")
            out.append((prefix, name[:-1], methods))
    return tuple(out)


ROUTES = route_table(SERVED)  # every served path, as declared (and documented)
EXACT = {path: methods for path, methods in ROUTES.items() if "{" not in path}
TEMPLATED = templated(ROUTES)
DEV_HOSTS = [".localhost", "127.0.0.1", "[::1]"]  # Django's default with DEBUG on and no ALLOWED_HOSTS


def route_for(scope: dict[str, Any]) -> Call:
    """The call serving this scope: an API call, or one that answers 404 / 405."""
    path: str = scope["path"]
    methods = EXACT.get(path)
    bound: dict[str, str] = {}
    if methods is None:
        for prefix, name, candidates in TEMPLATED:
            if path.startswith(prefix) and len(path) > len(prefix):
                methods, bound = candidates, {name: path[len(prefix) :]}
                break
        else:
            return _not_found
    method = scope["method"]
    call = methods.get("GET" if method == "HEAD" else method)
    if call is None:
        return _not_allowed(method, methods)
    return functools.partial(call, **bound) if bound else call


async def _not_found(request: ApiRequest) -> Reply:
    raise HttpError(404, "not_found_error", "No such endpoint.")


def _not_allowed(method: str, methods: dict[str, Call]) -> Call:
    allow = ", ".join(sorted({*methods, "HEAD"} if "GET" in methods else methods))

    async def refuse(request: ApiRequest) -> Reply:
        raise HttpError(405, "method_not_allowed", f"Method {method[:16]!r} not allowed.", {"Allow": allow})

    return refuse


class LiteRequest:
    """The parts of a request the API calls read (common.ApiRequest)."""

    __slots__ = ("headers", "body", "aiproxy_request_id", "client")

    def __init__(self, headers: dict[str, str], body: bytes, client: str = "") -> None:
        self.headers = headers
        self.body = body
        self.aiproxy_request_id: str | None = None
        self.client = client  # the connection's peer address (the ASGI scope's `client`)


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """Lower-case names; repeated headers joined with "," as Django joins them."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def check_host(headers: dict[str, str], scope: dict[str, Any]) -> None:
    """HttpRequest.get_host()'s check, for a request that never becomes an HttpRequest."""
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    elif "host" in headers:
        host = headers["host"]
    else:
        server_host, port = scope.get("server") or ("", None)
        host = server_host if port in (80, 443, None) else f"{server_host}:{port}"
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = DEV_HOSTS
    domain, _port = split_domain_port(host)
    if not (domain and validate_host(domain, allowed)):
        raise DisallowedHost("Invalid Host header.")


async def read_body(receive: Callable[[], Awaitable[dict]], limit: int) -> tuple[bytes, bool] | None:
    """(body, over_limit), or None if the client went away first. Stops reading past the limit."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        parts.append(chunk)
        if not message.get("more_body", False):
            return (parts[0] if len(parts) == 1 else b"".join(parts)), False


def _header(name: str, value: str) -> tuple[bytes, bytes]:
    value = value.replace("\r", " ").replace("\n", " ")  # never a header injection
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError:  # as Django does: MIME-encode what latin-1 cannot carry
        encoded = Header(value, "utf-8", maxlinelen=sys.maxsize).encode().encode("ascii")
    return name.lower().encode("latin-1"), encoded


async def send_reply(reply: Reply, send: Callable[[dict], Awaitable[None]], *, close: bool = False) -> None:
    headers = [_header(name, value) for name, value in reply.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    if isinstance(reply, JsonReply):
        body = reply.body()
        headers += [(b"content-type", JSON_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    headers.append((b"content-type", SSE_TYPE.encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    chunks = reply.chunks
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # closes the service's stream: record, upstream
    await send({"type": "http.response.body", "body": b""})


async def respond(call: Call, scope: dict[str, Any], body: bytes, over_limit: bool, send: Any) -> None:
    headers = headers_of(scope)
    request = LiteRequest(headers, body, (scope.get("client") or ("",))[0] or "")
    try:
        check_host(headers, scope)
        if over_limit:
            raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.")
        reply = await call(request)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an answer (error_reply logs 5xx)
        if request.aiproxy_request_id is None and not isinstance(exc, DisallowedHost):
            request.aiproxy_request_id = request_id_for(request)
        reply = ERROR_REPLIES.get(scope["path"], error_reply)(exc, request.aiproxy_request_id or "")
    # A body left unread (over the limit) would be read as the next request: close instead.
    await send_reply(reply, send, close=over_limit)


async def serve(call: Call, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve one request on the direct route; a client disconnect cancels the call.

    `serve`'s protocol (aiproxy/http_guard.py) cancels the task itself when the connection is
    lost; under another ASGI server a second task waits for http.disconnect."""
    read = await read_body(receive, settings.MAX_REQUEST_BYTES)
    if read is None:
        return
    body, over_limit = read
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - always inside the server's task
    watch: ClientWatch | None = None
    watcher = None
    if not over_limit:  # (past the limit the answer is a 413 and the connection is closed)
        watch = scope.get("extensions", {}).get(CLIENT_WATCH)
        if watch is None:
            watch = ClientWatch()
            watcher = asyncio.ensure_future(_wait_disconnect(receive, watch))
        watch.task = task
    try:
        await respond(call, scope, body, over_limit, send)
    except asyncio.CancelledError:
        if watch is None or not watch.gone:
            raise  # not the client: the server is shutting down
        task.uncancel()
    finally:
        if watch is not None:
            watch.task = None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _wait_disconnect(receive: Any, watch: ClientWatch) -> None:
    # After the body, the next ASGI message is http.disconnect: the client went away (or, once
    # the answer is sent and watch.task is unset, the server says the cycle is over).
    await receive()
    if watch.task is not None:
        watch.lost()
