"""Native API calls: POST /v1/complete, GET /v1/health, GET /v1/providers/status.

Thin: parse (against declarations.COMPLETE_REQUEST), authenticate, call the service, reply.
They run on the direct ASGI route (fast_routes.py).
"""

from __future__ import annotations

from typing import Any

from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.cost import cost_format
from completions_app.services.status import health_check, provider_status_list
from completions_app.services.types import (
    CallContext,
    CompletionInput,
    CompletionResult,
    StreamDelta,
    StreamEnd,
    StreamEvent,
)
from providers_app.adapters.types import Message

from .chat_input import messages_of, options_of
from .common import ApiRequest, authenticate, result_headers, wants_cache
from .declarations import COMPLETE_REQUEST
from .parsing import parse_body, stop_of
from .refusals import authenticated, refusal_recorded
from .replies import JsonReply, Reply
from .sse import open_stream, sse, sse_reply


def native_input(body: dict[str, Any], *, cache_allowed: bool) -> tuple[CompletionInput, bool]:
    """(input, stream) from a body checked against COMPLETE_REQUEST."""
    prompt = body.get("prompt")
    messages = (Message("user", prompt),) if prompt is not None else messages_of(body["messages"])
    inp = CompletionInput(
        model=body["model"],
        messages=messages,
        max_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stop=stop_of(body.get("stop")),
        user=body.get("user"),
        cache=cache_allowed and body["cache"],
        options=options_of(body),
    )
    return inp, body["stream"]


def usage_json(result: CompletionResult) -> dict[str, int]:
    u = result.usage
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
    }


def native_json(result: CompletionResult) -> dict[str, Any]:
    return {
        "id": result.request_id,
        "text": result.text,
        "model": result.model,
        "served_model": result.served_model,
        "provider": result.provider,
        "finish_reason": result.finish_reason,
        "tool_calls": [{"id": t.id, "name": t.name, "arguments": t.arguments} for t in result.tool_calls],
        "refusal": result.choices[0].refusal,
        "usage": usage_json(result),
        "usage_estimated": result.usage_estimated,
        # A string: JSON numbers are floats to most clients, and cost must stay exact.
        "cost_usd": cost_format(result.cost_usd),
        "cached": result.cached,
        "latency_ms": round(result.latency_ms, 3),
    }


def _native_sse(event: StreamEvent) -> list[bytes]:
    if isinstance(event, StreamDelta):
        if not event.tool_calls and event.refusal is None:
            return [sse({"type": "delta", "text": event.text})]
        return _rich_events(event)
    if isinstance(event, StreamEnd):
        return [sse({"type": "done", **native_json(event.result)})]
    return []


def _rich_events(event: StreamDelta) -> list[bytes]:
    # The native API has one choice (no `n`), so only choice 0's pieces reach here.
    out = [sse({"type": "delta", "text": event.text})] if event.text else []
    for d in event.tool_calls:
        name = d.name if d.id is not None else None  # id and name: on a call's first piece only
        out.append(sse({"type": "tool_call", "index": d.index, "id": d.id, "name": name, "arguments": d.arguments}))
    if event.refusal is not None:
        out.append(sse({"type": "refusal", "text": event.refusal}))
    return out


async def complete(request: ApiRequest) -> Reply:
    """POST /v1/complete."""
    client = await authenticated(request, "rest")
    ctx = CallContext(request_id=request.aiproxy_request_id, client=client, interface="rest")  # type: ignore[attr-defined]
    with refusal_recorded(request, ctx):
        inp, stream = native_input(parse_body(request, COMPLETE_REQUEST), cache_allowed=wants_cache(request))
    if stream:
        events = completion_stream(inp, ctx)
        start = await open_stream(events)
        return sse_reply(start, events, _native_sse)
    result = await completion_create(inp, ctx)
    return JsonReply(native_json(result), headers=result_headers(result))


async def health(request: ApiRequest) -> Reply:
    """GET /v1/health: liveness and dependencies (no key needed)."""
    data = await health_check()
    return JsonReply(data, status=200 if data["status"] == "ok" else 503)


async def providers_status(request: ApiRequest) -> Reply:
    """GET /v1/providers/status: breakers and keys per provider the key may reach."""
    client = await authenticate(request)
    request_id: str = request.aiproxy_request_id  # type: ignore[attr-defined]
    return JsonReply({"providers": await provider_status_list(client)}, headers={"x-request-id": request_id})
