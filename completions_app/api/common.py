"""What every API call does first and last: request id, auth, headers."""

from __future__ import annotations

from typing import Any, Protocol

from completions_app.services.auth import client_address_of, client_authenticate, presented_key
from completions_app.services.cost import cost_format
from completions_app.services.types import ClientIdentity, CompletionResult, EmbeddingResult

from .parsing import request_id_for


class ApiRequest(Protocol):
    """What the API calls read of a request (fast_routes.LiteRequest).

    `headers.get` takes lower-case names. `aiproxy_request_id` is set by `authenticate`
    (or earlier by the route) and is what error answers carry."""

    headers: Any
    body: bytes
    client: str  # the connection's peer address ("" when unknown)


async def authenticate(request: ApiRequest) -> ClientIdentity:
    """Sets request.aiproxy_request_id (used by error answers), then checks the client key."""
    if getattr(request, "aiproxy_request_id", None) is None:
        request.aiproxy_request_id = request_id_for(request)  # type: ignore[attr-defined]
    headers = request.headers
    address = client_address_of(getattr(request, "client", ""), headers.get("x-forwarded-for"))
    return await client_authenticate(presented_key(headers.get("authorization"), headers.get("x-api-key")), address)


def wants_cache(request: ApiRequest) -> bool:
    return "no-cache" not in (request.headers.get("cache-control") or "").lower()


def result_headers(result: CompletionResult | EmbeddingResult) -> dict[str, str]:
    """The headers of a served answer (a completion's or an embeddings')."""
    headers = {
        "x-request-id": result.request_id,
        "x-aiproxy-provider": result.provider,
        "x-aiproxy-cache": "HIT" if result.cached else "MISS",
        "x-aiproxy-cost-usd": cost_format(result.cost_usd),
    }
    if result.limit_headers:  # a limited key: x-ratelimit-* on every answer
        headers.update(result.limit_headers)
    return headers


def stream_headers(
    *, request_id: str, provider: str, cached: bool, limit_headers: dict[str, str] | None = None
) -> dict[str, str]:
    """Streams know their cost only at the end: it is in the final event, not a header."""
    headers = {
        "x-request-id": request_id,
        "x-aiproxy-provider": provider,
        "x-aiproxy-cache": "HIT" if cached else "MISS",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # nginx: do not buffer SSE
    }
    if limit_headers:
        headers.update(limit_headers)
    return headers
