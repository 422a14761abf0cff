"""The management API's errors, in the project's one shape {"error": {"type", "message", "param", "code"}}.

A validation error also lists every field at fault under `fields` ({name: [messages]}); the
first is `param`. Django's own exceptions are mapped here, never left to become a 500:
Http404 -> 404, PermissionDenied -> 403, a delete blocked by a PROTECT reference (a provider
still serving models) -> 409.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpResponseBase
from rest_framework import exceptions
from rest_framework.response import Response

from completions_app.api.errors import error_body
from completions_app.api.errors import exception_handler as project_exception_handler


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"limits": {"rpm": ["…"]}} -> {"limits.rpm": ["…"]}; non-field errors keep DRF's key."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            out = {}
            for i, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}[{i}]"))
            return out
        return {prefix or "non_field_errors": [str(item) for item in detail]}
    return {prefix or "non_field_errors": [str(detail)]}


def validation_response(exc: exceptions.ValidationError) -> Response:
    fields = _flatten(exc.detail)
    message = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
    body = error_body("invalid_request_error", message or "Invalid request.", next(iter(fields), None))
    body["error"]["fields"] = fields
    return Response(body, status=400)


def exception_handler(exc: Exception, context: dict) -> HttpResponseBase:
    if isinstance(exc, exceptions.ValidationError):
        return validation_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ProtectedError | RestrictedError):
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        names = sorted({str(obj) for obj in list(blocking)[:5]})
        return Response(
            error_body("conflict", f"Still in use by: {', '.join(names)}. Remove or move those first."), status=409
        )
    response = project_exception_handler(exc, context)
    # What DRF's own handler would add (DRF sets exc.auth_header before calling the handler).
    if auth_header := getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        response["Retry-After"] = str(int(wait))
    return response
