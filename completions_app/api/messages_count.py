"""POST /v1/messages/count_tokens: Anthropic's token counting, for a model on an `anthropic`
provider (the anthropic SDK's `messages.count_tokens`). The body is checked against
messages_shapes.COUNT_TOKENS_REQUEST and sent as the client sent it, with the upstream model's
name, through the router (its breaker, keys and their rotation, fallbacks on `anthropic`
providers only); a model on another kind is a 400 naming `model`: no other kind counts tokens.
Counting is not a completion: no response cache, no limits, no record.
"""

from __future__ import annotations

from typing import Any

from completions_app.services.catalog import ModelEntry, catalog_get, model_missing
from completions_app.services.router import route
from completions_app.services.types import Attempt
from providers_app.adapters.anthropic import AnthropicAdapter
from providers_app.adapters.anthropic_count import count_tokens
from providers_app.adapters.base import ProviderAdapter
from providers_app.errors import InvalidRequest, PermissionDenied

from .common import ApiRequest
from .messages import INTERFACE
from .messages_input import check_version, checked
from .messages_shapes import COUNT_TOKENS_REQUEST
from .parsing import json_body
from .refusals import authenticated
from .replies import JsonReply, Reply

KIND = "anthropic"


def _not_anthropic(m: ModelEntry) -> InvalidRequest | None:
    if m.provider.kind == KIND:
        return None
    return InvalidRequest(
        f"Token counting is served for models on an anthropic provider; {m.name[:200]!r} is served by a "
        f"{m.provider.kind} provider.",
        field="model",
    )


async def messages_count_tokens(request: ApiRequest) -> Reply:
    """POST /v1/messages/count_tokens."""
    client = await authenticated(request, INTERFACE)
    check_version(request.headers)
    data = json_body(request)
    checked(data, COUNT_TOKENS_REQUEST)  # the body goes as sent (checked, not rewritten)
    catalog = await catalog_get()
    name = data["model"]
    entry = catalog.models.get(name)
    if entry is None:
        raise model_missing(catalog, name)
    if client.allowed_models is not None and name not in client.allowed_models:
        raise PermissionDenied(f"This client key may not use model {name!r}.", field="model")

    async def run(m: ModelEntry, adapter: ProviderAdapter) -> int:
        assert isinstance(adapter, AnthropicAdapter)  # noqa: S101 - _not_anthropic skipped the others
        body: dict[str, Any] = {**data, "model": m.upstream_model}
        return await count_tokens(adapter, body)

    attempts: list[Attempt] = []
    routed = await route(catalog=catalog, model=entry, attempts=attempts, run=run, refusal=_not_anthropic)
    routed.ticket.success()
    headers = {"x-request-id": request.aiproxy_request_id, "x-aiproxy-provider": routed.model.provider.name}  # type: ignore[attr-defined]
    return JsonReply({"input_tokens": routed.value}, headers=headers)
