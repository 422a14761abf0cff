"""POST /v1/messages: Anthropic's Messages API as an ingress, so the anthropic SDK (and tools
built on it) work by changing base_url, with any model of the catalog whatever serves it.

The request is parsed against messages_shapes.MESSAGES_REQUEST into the service's input
(messages_input.py), goes through the same service as every route (cache, failover, breakers,
keys, limits, records: interface "anthropic"), and is answered in Anthropic's shapes
(messages_render.py). Every error is in Anthropic's shape and statuses
(errors.anthropic_error_reply; fast_routes.ERROR_REPLIES sends this route's errors there), and
a field the service names is named in the request's own terms (messages_input.anthropic_field).
The client key comes as `x-api-key` (the SDK's) or `Authorization: Bearer`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.types import CallContext, CompletionInput, StreamEvent, StreamStart
from providers_app.errors import GatewayError, InvalidRequest

from .common import ApiRequest, result_headers, stream_headers, wants_cache
from .errors import anthropic_error_body, anthropic_message, anthropic_status
from .messages_input import Origin, anthropic_field, check_version, checked, messages_input
from .messages_render import EventRenderer, event, message_json
from .messages_shapes import MESSAGES_REQUEST
from .parsing import json_body
from .refusals import authenticated, refusal_recorded
from .replies import JsonReply, Reply, SseReply
from .sse import open_stream

INTERFACE = "anthropic"
log = logging.getLogger(__name__)


async def messages_create(request: ApiRequest) -> Reply:
    """POST /v1/messages."""
    client = await authenticated(request, INTERFACE)
    ctx = CallContext(request_id=request.aiproxy_request_id, client=client, interface=INTERFACE)  # type: ignore[attr-defined]
    with refusal_recorded(request, ctx):
        check_version(request.headers)
        body = checked(json_body(request), MESSAGES_REQUEST)
        inp, origins = messages_input(body, cache_allowed=wants_cache(request))
    try:
        if body["stream"]:
            return await _stream(inp, ctx)
        result = await completion_create(inp, ctx)
    except InvalidRequest as exc:
        _renamed(exc, origins)
        raise
    return JsonReply(message_json(result), headers=result_headers(result))


def _renamed(exc: InvalidRequest, origins: list[Origin]) -> None:
    """The service names fields of its own input: name them as the client sent them."""
    if exc.field:
        renamed = anthropic_field(exc.field, origins)
        exc.message = exc.message.replace(exc.field, renamed)  # some messages name the field too
        exc.field = renamed


async def _stream(inp: CompletionInput, ctx: CallContext) -> SseReply:
    events = completion_stream(inp, ctx)
    start = await open_stream(events)
    render = EventRenderer(start.request_id, inp.model)
    headers = stream_headers(
        request_id=start.request_id, provider=start.provider, cached=start.cached, limit_headers=start.limit_headers
    )
    return SseReply(_events(start, events, render), headers)


async def _events(
    start: StreamStart, events: AsyncIterator[StreamEvent], render: EventRenderer
) -> AsyncIterator[bytes]:
    # As sse.sse_reply, in Anthropic's event framing: aclosing, so that a client that disconnects
    # closes the service's stream (the upstream call is cancelled and the record written).
    async with aclosing(events) as stream:
        for chunk in render.opening():
            yield chunk
        try:
            async for ev in stream:
                for chunk in render(ev):
                    yield chunk
        except Exception as exc:  # noqa: BLE001 - never a silent end: a cut stream ends with an error event
            if not isinstance(exc, GatewayError):
                log.exception("stream failed (request %s)", start.request_id)
            _status, error_type = anthropic_status(exc)
            yield event(anthropic_error_body(error_type, anthropic_message(exc)))
