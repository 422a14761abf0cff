"""OpenAI-compatible endpoints: /v1/chat/completions and /v1/models.

Whatever provider serves the model, the answer is in OpenAI's shapes, so the
official openai SDK works by changing base_url. Requests are parsed against
declarations.CHAT_REQUEST; these calls run on the direct ASGI route (fast_routes.py).
"""

from __future__ import annotations

import time
from typing import Any

from completions_app.services.catalog import catalog_get
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.types import (
    CallContext,
    CompletionInput,
    CompletionResult,
    StreamDelta,
    StreamEnd,
    StreamEvent,
)

from .common import ApiRequest, authenticate, result_headers, wants_cache
from .declarations import CHAT_REQUEST
from .parsing import messages_of, parse_body, stop_of
from .refusals import authenticated, refusal_recorded
from .replies import JsonReply, Reply
from .sse import open_stream, sse, sse_reply

INTERFACE = "openai"


def openai_input(body: dict[str, Any], *, cache_allowed: bool) -> tuple[CompletionInput, bool, bool]:
    """(input, stream, include_usage) from a body checked against CHAT_REQUEST."""
    max_tokens = body.get("max_completion_tokens")
    options = body.get("stream_options")
    inp = CompletionInput(
        model=body["model"],
        messages=messages_of(body["messages"]),
        max_tokens=max_tokens if max_tokens is not None else body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        stop=stop_of(body.get("stop")),
        user=body.get("user"),
        cache=cache_allowed and body["cache"],
    )
    return inp, body["stream"], options is not None and options["include_usage"]


def _usage(result: CompletionResult) -> dict[str, Any]:
    u = result.usage
    # OpenAI counts cached tokens inside prompt_tokens.
    prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
    }


def _completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id}"


def openai_json(result: CompletionResult) -> dict[str, Any]:
    return {
        "id": _completion_id(result.request_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": result.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(result),
        "system_fingerprint": None,
    }


class _ChunkRenderer:
    def __init__(self, request_id: str, model: str, include_usage: bool) -> None:
        self.base = {
            "id": _completion_id(request_id),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.include_usage = include_usage
        self.started = False

    def _chunk(self, delta: dict, finish_reason: str | None) -> dict:
        chunk = {
            **self.base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def __call__(self, event: StreamEvent) -> list[bytes]:
        out = []
        if not self.started and isinstance(event, StreamDelta | StreamEnd):
            self.started = True
            out.append(sse(self._chunk({"role": "assistant", "content": ""}, None)))
        if isinstance(event, StreamDelta):
            out.append(sse(self._chunk({"content": event.text}, None)))
        elif isinstance(event, StreamEnd):
            out.append(sse(self._chunk({}, event.result.finish_reason or "stop")))
            if self.include_usage:
                out.append(sse({**self.base, "choices": [], "usage": _usage(event.result)}))
        return out


async def chat_completions(request: ApiRequest) -> Reply:
    """POST /v1/chat/completions."""
    client = await authenticated(request, INTERFACE)
    ctx = CallContext(request_id=request.aiproxy_request_id, client=client, interface=INTERFACE)  # type: ignore[attr-defined]
    with refusal_recorded(request, ctx):
        body = parse_body(request, CHAT_REQUEST)
        inp, stream, include_usage = openai_input(body, cache_allowed=wants_cache(request))
    if stream:
        events = completion_stream(inp, ctx)
        start = await open_stream(events)
        render = _ChunkRenderer(start.request_id, inp.model, include_usage)
        return sse_reply(start, events, render, trailer=[sse("[DONE]")])
    result = await completion_create(inp, ctx)
    return JsonReply(openai_json(result), headers=result_headers(result))


async def models_list(request: ApiRequest) -> Reply:
    """GET /v1/models: the models this client key may use."""
    client = await authenticate(request)
    catalog = await catalog_get()
    data = [
        {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider.name}
        for name, m in sorted(catalog.models.items())
        if client.allowed_models is None or name in client.allowed_models
    ]
    return JsonReply({"object": "list", "data": data}, headers={"x-request-id": request.aiproxy_request_id})  # type: ignore[attr-defined]
