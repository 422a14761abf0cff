"""The one place REST turns errors into answers: {"error": {"type", "message"}}."""

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
