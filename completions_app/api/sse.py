"""Server-Sent Events plumbing shared by /v1/complete and /v1/chat/completions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from completions_app.services.types import StreamEvent, StreamStart
from providers_app import json_bytes
from providers_app.errors import GatewayError

from .common import stream_headers
from .errors import error_body
from .replies import SseReply

log = logging.getLogger(__name__)


def sse(data: dict | str) -> bytes:
    return b"data: %s\n\n" % (data.encode() if isinstance(data, str) else json_bytes.dumps(data))


async def open_stream(events: AsyncIterator[StreamEvent]) -> StreamStart:
    """Read up to the StreamStart event, so that errors before the first token
    become a plain HTTP error answer with the right status."""
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    assert isinstance(first, StreamStart)  # noqa: S101 - the service's contract
    return first


def sse_reply(
    start: StreamStart,
    events: AsyncIterator[StreamEvent],
    render: Callable[[StreamEvent], list[bytes]],
    trailer: list[bytes] | None = None,
) -> SseReply:
    async def body() -> AsyncIterator[bytes]:
        # aclosing: a client that disconnects closes the service's stream,
        # which cancels the upstream call and writes the record.
        async with aclosing(events) as stream:
            try:
                async for event in stream:
                    for chunk in render(event):
                        yield chunk
            except GatewayError as exc:
                # Never a silent end: a cut stream ends with an error event.
                yield sse(error_body(exc.code, exc.message))
                return
            except Exception:
                log.exception("stream failed (request %s)", start.request_id)
                yield sse(error_body("internal_error", "Internal error."))
                return
        for chunk in trailer or []:
            yield chunk

    headers = stream_headers(
        request_id=start.request_id, provider=start.provider, cached=start.cached, limit_headers=start.limit_headers
    )
    return SseReply(body(), headers)
