"""What every API view does first and last: request id, auth, headers."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase

from completions_app.services.auth import client_authenticate, presented_key
from completions_app.services.cost import cost_format
from completions_app.services.types import ClientIdentity, CompletionResult

from .parsing import request_id_for


async def authenticate(request: HttpRequest) -> ClientIdentity:
    """Sets request.aiproxy_request_id (used by error answers), then checks the client key."""
    request.aiproxy_request_id = request_id_for(request)  # type: ignore[attr-defined]
    return await client_authenticate(
        presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    )


def wants_cache(request: HttpRequest) -> bool:
    return "no-cache" not in request.headers.get("cache-control", "").lower()


def result_headers(response: HttpResponseBase, result: CompletionResult) -> HttpResponseBase:
    response["x-request-id"] = result.request_id
    response["x-aiproxy-provider"] = result.provider
    response["x-aiproxy-cache"] = "HIT" if result.cached else "MISS"
    response["x-aiproxy-cost-usd"] = cost_format(result.cost_usd)
    return response


def stream_headers(response: HttpResponseBase, *, request_id: str, provider: str, cached: bool) -> HttpResponseBase:
    """Streams know their cost only at the end: it is in the final event, not a header."""
    response["x-request-id"] = request_id
    response["x-aiproxy-provider"] = provider
    response["x-aiproxy-cache"] = "HIT" if cached else "MISS"
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer SSE
    return response
