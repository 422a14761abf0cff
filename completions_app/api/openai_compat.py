"""OpenAI-compatible endpoints: /v1/chat/completions and /v1/models.

Whatever provider serves the model, the answer is in OpenAI's shapes, so the
official openai SDK works by changing base_url. No DRF here: these calls run on the
direct ASGI route (fast_routes.py); views.py wraps them as DRF views for the schema.
"""

from __future__ import annotations

import time
from typing import Any

from aiproxy.errors import InvalidRequest
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
from .parsing import (
    json_body,
    messages_list,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    req_str,
    stop_list,
    unknown_fields,
)
from .replies import JsonReply, Reply
from .sse import open_stream, sse, sse_reply

# Fields we act on, and fields we accept only at their default (we do not
# forward them, so a non-default value would be silently ignored: refuse it).
OPENAI_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream",
        "stream_options", "user", "n", "presence_penalty", "frequency_penalty", "logprobs", "cache",
    }
)  # fmt: skip
DEFAULT_ONLY = {"n": 1, "presence_penalty": 0, "frequency_penalty": 0, "logprobs": False}


def openai_input(data: dict[str, Any], *, cache_allowed: bool) -> tuple[CompletionInput, bool, bool]:
    """(input, stream, include_usage)"""
    unknown_fields(data, OPENAI_FIELDS)
    for name, default in DEFAULT_ONLY.items():
        if data.get(name) not in (None, default):
            raise InvalidRequest(f"`{name}` is not supported (only {default!r}).", field=name)
    max_tokens = opt_int(data, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = opt_int(data, "max_tokens")
    stream = opt_bool(data, "stream", False)
    options = data.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise InvalidRequest("`stream_options` takes only include_usage.", field="stream_options")
    include_usage = opt_bool(options or {}, "include_usage", False)
    inp = CompletionInput(
        model=req_str(data, "model"),
        messages=messages_list(data),
        max_tokens=max_tokens,
        temperature=opt_number(data, "temperature"),
        top_p=opt_number(data, "top_p"),
        stop=stop_list(data),
        user=opt_str(data, "user"),
        cache=cache_allowed and opt_bool(data, "cache", True),
    )
    return inp, stream, include_usage


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
    """POST /v1/chat/completions, for the direct ASGI route and the DRF view alike."""
    client = await authenticate(request)
    inp, stream, include_usage = openai_input(json_body(request), cache_allowed=wants_cache(request))
    ctx = CallContext(request_id=request.aiproxy_request_id, client=client, interface="openai")  # type: ignore[attr-defined]
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
