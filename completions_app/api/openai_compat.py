"""OpenAI-compatible endpoints: /v1/chat/completions, /v1/models and /v1/models/{model}
(/v1/embeddings: embeddings.py).

Whatever provider serves the model, the answer is in OpenAI's shapes, so the
official openai SDK works by changing base_url. Requests are parsed against
declarations.CHAT_REQUEST (chat_input.py makes them the service's input) and answered by
chat_render.py; these calls run on the direct ASGI route (fast_routes.py).
"""

from __future__ import annotations

from typing import Any

from completions_app.services.catalog import ModelEntry, catalog_get
from completions_app.services.completion import completion_create, completion_stream
from completions_app.services.types import CallContext, CompletionInput

from .chat_input import messages_of, options_of
from .chat_render import ChunkRenderer, openai_json
from .common import ApiRequest, authenticate, result_headers, wants_cache
from .declarations import CHAT_REQUEST
from .errors import HttpError
from .parsing import parse_body, stop_of
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
        options=options_of(body),
    )
    return inp, body["stream"], options is not None and options["include_usage"]


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
        render = ChunkRenderer(start.request_id, inp.model, include_usage)
        return sse_reply(start, events, render, trailer=[sse("[DONE]")])
    result = await completion_create(inp, ctx)
    return JsonReply(openai_json(result), headers=result_headers(result))


async def models_list(request: ApiRequest) -> Reply:
    """GET /v1/models: the models this client key may use."""
    client = await authenticate(request)
    catalog = await catalog_get()
    allowed = client.allowed_models
    data = [_model_json(m) for name, m in sorted(catalog.models.items()) if allowed is None or name in allowed]
    return JsonReply({"object": "list", "data": data}, headers={"x-request-id": request.aiproxy_request_id})  # type: ignore[attr-defined]


async def models_retrieve(request: ApiRequest, *, model: str) -> Reply:
    """GET /v1/models/{model}: one model this client key may use (openai's models.retrieve)."""
    client = await authenticate(request)
    entry = (await catalog_get()).models.get(model)
    if entry is None or (client.allowed_models is not None and model not in client.allowed_models):
        # The same answer for a model that exists but is not this key's: its name is not told.
        raise HttpError(404, "model_not_found", f"The model {model[:200]!r} does not exist or is not available.")
    return JsonReply(_model_json(entry), headers={"x-request-id": request.aiproxy_request_id})  # type: ignore[attr-defined]


def _model_json(m: ModelEntry) -> dict[str, Any]:
    # `mode` is not OpenAI's, but its SDK keeps fields it does not know (pydantic extra="allow").
    return {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider.name, "mode": m.mode}
