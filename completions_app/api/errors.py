"""The one place REST turns errors into answers: {"error": {"type", "message"}}."""

from __future__ import annotations

import logging
import math

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions

from aiproxy.errors import GatewayError

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


def error_body(code: str, message: str, field: str | None = None) -> dict:
    # `param` and `code` make the body match OpenAI's error shape too, so the
    # openai SDK surfaces our errors as its own.
    return {"error": {"type": code, "message": message, "param": field, "code": code}}


def error_response(exc: BaseException, request: HttpRequest | None = None) -> JsonResponse:
    request_id = getattr(request, "aiproxy_request_id", "") if request is not None else ""
    if isinstance(exc, GatewayError):
        response = JsonResponse(error_body(exc.code, exc.message, exc.field), status=exc.http_status)
        if exc.retry_after:
            response["Retry-After"] = str(math.ceil(exc.retry_after))
        response["x-aiproxy-provider"] = exc.provider
    elif isinstance(exc, SuspiciousOperation):  # e.g. a Host not in ALLOWED_HOSTS
        response = JsonResponse(error_body("invalid_request_error", "Bad request."), status=400)
    elif isinstance(exc, drf_exceptions.APIException):
        status = exc.status_code
        response = JsonResponse(
            error_body(_DRF_TYPES.get(status, "invalid_request_error"), str(exc.detail)), status=status
        )
    else:
        log.error("unhandled error (request %s)", request_id, exc_info=exc)
        response = JsonResponse(error_body("internal_error", "Internal error."), status=500)
    response["x-request-id"] = request_id
    response["x-aiproxy-cache"] = "MISS"
    response["x-aiproxy-cost-usd"] = "0"  # a failed call is not billed by the providers
    return response


def exception_handler(exc: Exception, context: dict) -> JsonResponse:
    """DRF's EXCEPTION_HANDLER."""
    request = context.get("request")
    return error_response(exc, getattr(request, "_request", request))
