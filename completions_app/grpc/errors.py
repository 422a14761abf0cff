"""The one place where errors become gRPC statuses.

A GatewayError carries its status name and a message that is safe to show. Anything
else is a bug: the client gets INTERNAL with a generic message, and the log gets the
traceback with the request id (never the client's key: it is not in scope here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import grpc

from providers_app.errors import GatewayError, LimitExceeded

from .interceptor import current_request_id

log = logging.getLogger(__name__)

ERROR_TYPE_HEADER = "x-error-type"
ERROR_FIELD_HEADER = "x-error-field"  # the request field at fault (REST's `param`)
# A refusal by a limit of the key or its team (RESOURCE_EXHAUSTED): which limit ("rpm"...), whose
# ("key:<name>" | "team:<name>"), and for a budget when it resets (ISO 8601); x-ratelimit-* beside.
LIMIT_HEADER = "x-aiproxy-limit"
LIMIT_OWNER_HEADER = "x-aiproxy-limit-owner"
LIMIT_RESETS_HEADER = "x-aiproxy-limit-resets-at"


class ClientDeadlineExceeded(GatewayError):
    """The client's own gRPC deadline ran out while the gateway was working on the call."""

    code = "deadline_exceeded"
    http_status = 504
    grpc_status = "DEADLINE_EXCEEDED"
    default_message = "The call's deadline was exceeded."


def status_code_for(exc: GatewayError) -> grpc.StatusCode:
    try:
        return grpc.StatusCode[exc.grpc_status]
    except KeyError:
        log.error("%s has an unknown grpc_status %r", type(exc).__name__, exc.grpc_status)
        return grpc.StatusCode.INTERNAL


def status_message(exc: GatewayError) -> str:
    """The error's message, naming the field at fault when the message does not already:
    most clients show only the status message, not the trailers."""
    if exc.field and exc.field not in exc.message:
        return f"{exc.field}: {exc.message}"
    return exc.message


async def rpc_abort(context: grpc.aio.ServicerContext, exc: Exception, *, rpc: str) -> NoReturn:
    """End the RPC with the status for `exc` (via `context.abort`, which raises).

    Handlers call this from `except Exception`: CancelledError (the client went away)
    is a BaseException, never caught, so grpc.aio can finish cancelling the handler.
    """
    if isinstance(exc, grpc.aio.AbortError):
        raise exc  # already aborted with a status
    if isinstance(exc, GatewayError):
        trailing = [(ERROR_TYPE_HEADER, exc.code)]
        if (retry_after := exc.retry_after_header()) is not None:
            trailing.append(("retry-after", retry_after))
        if exc.field:
            trailing.append((ERROR_FIELD_HEADER, exc.field))
        if isinstance(exc, LimitExceeded):
            trailing.extend(limit_trailers(exc))
        context.set_trailing_metadata(tuple(trailing))
        await context.abort(status_code_for(exc), status_message(exc))
    log.error("gRPC %s failed with an unexpected error (request_id=%s)", rpc, current_request_id(), exc_info=exc)
    context.set_trailing_metadata(((ERROR_TYPE_HEADER, GatewayError.code),))
    await context.abort(grpc.StatusCode.INTERNAL, GatewayError.default_message)


def limit_trailers(exc: LimitExceeded) -> list[tuple[str, str]]:
    """What REST sends of a limit refusal (its x-ratelimit-* headers), and the limit's name,
    owner and reset time, which REST has in its body and Retry-After."""
    trailing = [(name.lower(), value) for name, value in exc.headers.items()]
    if exc.limit:
        trailing.append((LIMIT_HEADER, exc.limit))
    if exc.owner:
        trailing.append((LIMIT_OWNER_HEADER, exc.owner))
    if exc.resets_at:
        trailing.append((LIMIT_RESETS_HEADER, exc.resets_at))
    return trailing


@asynccontextmanager
async def client_deadline(context: grpc.aio.ServicerContext) -> AsyncIterator[float | None]:
    """Bound the block by the client's deadline; yields the seconds left (None = no deadline).

    The service gets the same number as `CallContext.deadline_s` so that it can size
    upstream timeouts; this guard makes sure nothing outlives the deadline regardless.
    """
    remaining = context.time_remaining()
    if remaining is None:
        yield None
        return
    timeout = asyncio.timeout(remaining)
    try:
        async with timeout:
            yield remaining
    except TimeoutError as exc:
        # A TimeoutError from below (not from our deadline) stays what it is.
        if timeout.expired():
            raise ClientDeadlineExceeded() from exc
        raise
