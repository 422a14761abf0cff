"""The one error hierarchy of the gateway.

Each error knows its public `code` (the JSON `error.type`), its HTTP status,
its gRPC status name, whether the router may fail over (`retryable`) and
whether it counts against a provider's circuit breaker (`breaker_fault`).
REST maps it in completions_app/api/errors.py, gRPC in completions_app/grpc/errors.py.
Messages are safe to show: they never contain a secret.

It sits at the bottom of the import graph (providers_app is the lowest app: models and
adapters; every layer above raises or maps these) and imports nothing of the project.
"""

from __future__ import annotations

import math


class GatewayError(Exception):
    code = "internal_error"
    http_status = 500
    grpc_status = "INTERNAL"
    retryable = False
    breaker_fault = False
    default_message = "Internal error."
    provider = ""  # set by the service once a provider was tried: the x-aiproxy-provider header
    # A limited key's x-ratelimit-* headers, set by the service on whatever error ends its call
    # (every answer to a limited key carries them, its errors included).
    limit_headers: dict[str, str] | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        upstream_status: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        self.field = field
        super().__init__(self.message)

    def retry_after_header(self) -> str | None:
        """`Retry-After` as both interfaces send it: whole seconds, rounded up, at least 1."""
        if self.retry_after is None:
            return None
        return str(max(1, math.ceil(self.retry_after)))


# --- the client's own errors -------------------------------------------------
class InvalidRequest(GatewayError):
    code = "invalid_request_error"
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    default_message = "Invalid request."


class AuthenticationFailed(GatewayError):
    code = "authentication_error"
    http_status = 401
    grpc_status = "UNAUTHENTICATED"
    default_message = "Missing or invalid client key."


class PermissionDenied(GatewayError):
    code = "permission_error"
    http_status = 403
    grpc_status = "PERMISSION_DENIED"
    default_message = "This client key may not use that model."


class ModelNotFound(GatewayError):
    code = "not_found_error"
    http_status = 404
    grpc_status = "NOT_FOUND"
    default_message = "Unknown model."


class PayloadTooLarge(GatewayError):
    code = "request_too_large"
    http_status = 413
    grpc_status = "INVALID_ARGUMENT"
    default_message = "Request body too large."


class UnsupportedMediaType(GatewayError):
    """A body labelled other than JSON, or encoded other than gzip."""

    code = "unsupported_media_type"
    http_status = 415
    grpc_status = "INVALID_ARGUMENT"
    default_message = "Send the body as application/json."


class ServiceUnavailable(GatewayError):
    """The gateway's own dependency (its database) is unreachable."""

    code = "service_unavailable"
    http_status = 503
    grpc_status = "UNAVAILABLE"
    default_message = "The gateway cannot reach its database; try again shortly."


# --- upstream faults (classified at the adapter boundary) ----------------------
class UpstreamError(GatewayError):
    """Base of every error that came from (or on the way to) a provider."""

    code = "upstream_error"
    http_status = 502
    grpc_status = "UNAVAILABLE"
    retryable = True
    breaker_fault = True
    default_message = "The upstream provider failed."


class UpstreamBadRequest(UpstreamError):
    """400/404/413/422 from the provider: the client's request is at fault."""

    code = "invalid_request_error"
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    retryable = False
    breaker_fault = False
    default_message = "The provider rejected the request."


class UpstreamAuthError(UpstreamError):
    """401/403 from the provider: this key is bad; another key may work."""

    code = "upstream_auth_error"
    http_status = 502
    breaker_fault = False
    default_message = "The provider rejected the gateway's credentials."


class UpstreamRateLimited(UpstreamError):
    code = "rate_limit_error"
    http_status = 429
    grpc_status = "RESOURCE_EXHAUSTED"
    breaker_fault = False
    default_message = "The provider is rate limiting every available key."


class UpstreamServerError(UpstreamError):
    code = "upstream_error"
    default_message = "The provider answered with a server error."


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    http_status = 504
    grpc_status = "DEADLINE_EXCEEDED"
    default_message = "The provider did not answer in time."


class UpstreamConnectionError(UpstreamError):
    code = "upstream_connection_error"
    default_message = "Could not reach the provider."


class UpstreamMalformedResponse(UpstreamError):
    code = "upstream_malformed_response"
    default_message = "The provider sent a response the gateway could not read."


# --- gateway states -------------------------------------------------------------
class CircuitOpen(UpstreamError):
    code = "circuit_open"
    http_status = 503
    grpc_status = "UNAVAILABLE"
    breaker_fault = False
    default_message = "The provider's circuit breaker is open."


class NoKeyAvailable(UpstreamRateLimited):
    default_message = "Every key of the provider is cooling down after rate limits."


# --- the gateway's own limits (completions_app/services/limits*.py) ------------
class LimitExceeded(GatewayError):
    """A request over a limit of its client key or of the key's team. `limit` names it:
    rpm | tpm | concurrency | budget_usd_day | budget_usd_month; `owner` is "key:<name>" or
    "team:<name>"; `headers` the x-ratelimit-* headers for the answer."""

    http_status = 429
    grpc_status = "RESOURCE_EXHAUSTED"
    error_type: str | None = None  # the body's `type` when it differs from `code` (OpenAI's shapes)

    def __init__(
        self,
        message: str | None = None,
        *,
        limit: str = "",
        owner: str = "",
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        resets_at: str | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit, self.owner, self.headers, self.resets_at = limit, owner, headers or {}, resets_at
        self.limit_headers = self.headers


class RateLimitExceeded(LimitExceeded):
    code = "rate_limit_exceeded"
    default_message = "Rate limit exceeded."


class ConcurrencyLimitExceeded(LimitExceeded):
    code = "concurrency_limit"
    default_message = "Too many requests in flight for this key."


class BudgetExceeded(LimitExceeded):
    code = "budget_exceeded"
    error_type = "insufficient_quota"
    default_message = "Budget exhausted."
