"""The one place REST turns errors into answers: {"error": {"type", "message"}}, and on
/v1/messages Anthropic's {"type": "error", "error": {"type", "message"}} with its statuses."""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponseBase

from providers_app.errors import GatewayError

from .replies import JsonReply, django_response

log = logging.getLogger(__name__)

_DRF_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
    429: "rate_limit_error",
}


class HttpError(Exception):
    """An HTTP-level refusal that is not the service's (unknown path, wrong method)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_body(code: str, message: str, field: str | None = None, error_type: str | None = None) -> dict:
    # `param` and `code` make the body match OpenAI's error shape too, so the
    # openai SDK surfaces our errors as its own. `type` is the code unless OpenAI's
    # shape has another word for the kind (a budget: insufficient_quota).
    return {"error": {"type": error_type or code, "message": message, "param": field, "code": code}}


def error_reply(exc: BaseException, request_id: str = "") -> JsonReply:
    """The answer to a failed call: the status, the body in the one error shape, headers."""
    headers: dict[str, str] = {}
    if isinstance(exc, GatewayError):
        reply = JsonReply(
            error_body(exc.code, exc.message, exc.field, getattr(exc, "error_type", None)),
            status=exc.http_status,
            headers=headers,
        )
        if (retry_after := exc.retry_after_header()) is not None:
            headers["Retry-After"] = retry_after
        if exc.limit_headers:
            headers.update(exc.limit_headers)  # a limited key's x-ratelimit-*
        headers["x-aiproxy-provider"] = exc.provider
    elif isinstance(exc, SuspiciousOperation):  # e.g. a Host not in ALLOWED_HOSTS
        reply = JsonReply(error_body("invalid_request_error", "Bad request."), status=400, headers=headers)
    elif isinstance(exc, HttpError):
        reply = JsonReply(error_body(exc.code, exc.message), status=exc.status, headers=headers)
        headers.update(exc.headers)
    else:
        log.error("unhandled error (request %s)", request_id, exc_info=exc)
        reply = JsonReply(error_body("internal_error", "Internal error."), status=500, headers=headers)
    headers["x-request-id"] = request_id
    headers["x-aiproxy-cache"] = "MISS"
    headers["x-aiproxy-cost-usd"] = "0"  # a failed call is not billed by the providers
    return reply


def error_response(exc: BaseException, request: HttpRequest | None = None) -> HttpResponseBase:
    request_id = getattr(request, "aiproxy_request_id", "") if request is not None else ""
    return django_response(error_reply(exc, request_id))


def exception_handler(exc: Exception, context: dict) -> HttpResponseBase:
    """DRF's EXCEPTION_HANDLER (the views Django serves: /api/schema/, the management API),
    so they answer in the same error shape. DRF is imported here only: the direct route
    never loads it."""
    from rest_framework import exceptions as drf_exceptions  # noqa: PLC0415 - DRF stays out of the /v1 process

    if isinstance(exc, drf_exceptions.APIException):
        status = exc.status_code
        exc = HttpError(status, _DRF_TYPES.get(status, "invalid_request_error"), str(exc.detail))
    request = context.get("request")
    return error_response(exc, getattr(request, "_request", request))


# --- Anthropic's shape (POST /v1/messages) ----------------------------------------------------
# Anthropic's statuses and error types (docs: "HTTP errors"); a status it does not use keeps its
# type's nearest one. 503 (an open breaker, the gateway's database) and an upstream 503 / 529 are
# its 529 overloaded_error, which its SDK retries; an upstream fault otherwise is a 500 api_error.
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED_UPSTREAM = (503, 529)


def anthropic_status(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, Anthropic error type) for a failed call on /v1/messages."""
    if isinstance(exc, GatewayError):
        status = exc.http_status
        if status == 503 or (status == 502 and exc.upstream_status in OVERLOADED_UPSTREAM):
            status = 529
        elif status == 502:
            status = 500
    elif isinstance(exc, SuspiciousOperation):
        status = 400
    elif isinstance(exc, HttpError):
        status = exc.status
    else:
        status = 500
    # Other 4xx (405, 415) keep their status with Anthropic's generic type for them.
    return status, ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def anthropic_message(exc: BaseException) -> str:
    """The error's message; a field at fault is named first (Anthropic's body has no `param`)."""
    if isinstance(exc, GatewayError):
        return f"{exc.field}: {exc.message}" if exc.field and exc.field not in exc.message else exc.message
    if isinstance(exc, SuspiciousOperation):
        return "Bad request."
    if isinstance(exc, HttpError):
        return exc.message
    return "Internal error."


def anthropic_error_body(
    error_type: str, message: str, request_id: str | None = None, field: str | None = None
) -> dict:
    error = {"type": error_type, "message": message}
    if field:  # an extension of Anthropic's object (which may grow, its docs say): the field at fault
        error["param"] = field
    body: dict = {"type": "error", "error": error}
    if request_id:
        body["request_id"] = request_id
    return body


def anthropic_error_reply(exc: BaseException, request_id: str = "") -> JsonReply:
    """error_reply in Anthropic's shape {"type": "error", "error": {"type", "message"}}: the same
    headers (Retry-After, x-ratelimit-*, x-aiproxy-*), Anthropic's statuses."""
    reply = error_reply(exc, request_id)  # headers, and the log line of an unexpected error
    status, error_type = anthropic_status(exc)
    reply.status = status
    field = exc.field if isinstance(exc, GatewayError) else None
    reply.data = anthropic_error_body(error_type, anthropic_message(exc), request_id, field)
    return reply
