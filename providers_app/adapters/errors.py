"""Classify whatever a provider call raised into one providers_app.errors.UpstreamError.

The router and breakers read only the resulting class (retryable? breaker fault?), so
this is the one place that knows what can go wrong on the wire (http.py):

- StatusError: a status outside 2xx with its body (a 3xx too: redirects are not followed),
  or an error event / error line inside a 200 stream;
- aiohttp's errors and timeouts, OSError (connect, reset), ValueError (a body that is not
  JSON), KeyError / TypeError / AttributeError / IndexError (JSON of the wrong shape).

Messages are built from the provider's own `error.message`, never from a whole body, are
cut to ~300 characters and have the key scrubbed.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from providers_app.errors import (
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamMalformedResponse,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 300

# Error types found in bodies (Anthropic's `error.type`, OpenAI's `error.type`/`code`), for
# errors that arrive inside a 200 stream and so carry no HTTP status of their own.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


# Anything shaped like a provider secret, in case a provider echoes one back.
_SECRET_PATTERNS = re.compile(r"(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+)")


def scrub(text: str, api_key: str | None) -> str:
    """Cut to MAX_MESSAGE_CHARS and remove the key (and key-like strings)."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "[redacted]")
    text = _SECRET_PATTERNS.sub("[redacted]", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_status(
    status: int, message: str, *, retry_after: float | None = None, upstream_status: int | None = None
) -> UpstreamError:
    """The gateway error for an upstream HTTP status (or the status an error type stands for)."""
    upstream_status = upstream_status if upstream_status is not None else status
    kw: dict[str, Any] = {"upstream_status": upstream_status}
    if status == 429:
        return UpstreamRateLimited(message, retry_after=retry_after, **kw)
    if status in (401, 402, 403):  # this key is refused (402: its billing); another key may work
        return UpstreamAuthError(message, **kw)
    if status == 408:
        return UpstreamTimeout(message, **kw)
    if 400 <= status < 500 and status != 499:
        # 400/404/413/422 and the rest of 4xx: the request itself is at fault; retrying elsewhere won't help.
        return UpstreamBadRequest(message, **kw)
    return UpstreamServerError(message, **kw)


def _body_error(body: object) -> tuple[str | None, str | None]:
    """(type, message) from an error body: Anthropic's / OpenAI's `{"error": {...}}` or its inner object."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            kind = inner.get("type") or inner.get("code")
            msg = inner.get("message")
            return (str(kind) if kind else None), (str(msg) if msg else None)
        if isinstance(inner, str):
            return None, inner
    return None, None


def _describe(provider: str, status: int | None, message: str | None, fallback: str, api_key: str | None) -> str:
    where = f"{provider} (HTTP {status})" if status else provider
    return scrub(f"{where}: {message or fallback}", api_key)


class StatusError(Exception):
    """An upstream error: a status outside 2xx read by http.py, or an error event inside a 200
    stream (status 200; the body's type says which error). `body` is the decoded JSON, else the text."""

    def __init__(self, status: int, headers: Any, body: object) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.headers = headers
        self.body = body

    @classmethod
    def of_content(cls, status: int, headers: Any, content: bytes | str) -> StatusError:
        try:
            body: object = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        return cls(status, headers, body)


def _from_status(status: int, headers: Any, body: object, provider: str, api_key: str | None) -> UpstreamError:
    """From an HTTP error status, its headers and its decoded body (JSON, else text)."""
    kind, msg = _body_error(body)
    if 300 <= status < 400:
        # Not followed: the prompt would go wherever the provider points (http.py).
        location = headers.get("location", "") if headers is not None else ""
        where = f" to {location[:100]}" if location else ""
        return UpstreamServerError(
            scrub(f"{provider} (HTTP {status}): redirect{where} not followed", api_key), upstream_status=status
        )
    if status < 300:
        # An `error` event inside a 200 stream: the body's type stands in for the status.
        mapped = ERROR_TYPE_STATUS.get(kind or "", 500)
        return error_for_status(mapped, _describe(provider, None, msg, kind or "stream error", api_key))
    retry_after = parse_retry_after(headers) if status == 429 else None
    return error_for_status(status, _describe(provider, status, msg, kind or "error", api_key), retry_after=retry_after)


def classify(exc: BaseException, *, provider: str, api_key: str | None) -> UpstreamError:
    """Map any exception raised while talking to a provider to an UpstreamError."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, StatusError):
        return _from_status(exc.status_code, exc.headers, exc.body, provider, api_key)
    # aiohttp's timeouts (ServerTimeoutError, ConnectionTimeoutError…) are TimeoutErrors too.
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"{provider}: no answer within the timeout")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError | OSError):
        # OSError: refused, reset, unreachable. A payload error: the body broke off mid-way.
        return UpstreamConnectionError(f"{provider}: could not connect or the connection dropped")
    if isinstance(exc, aiohttp.ClientError):  # before ValueError: InvalidURL is both
        return UpstreamConnectionError(f"{provider}: {type(exc).__name__}")
    if isinstance(exc, ValueError):  # json.JSONDecodeError, a body that is not UTF-8
        return UpstreamMalformedResponse(f"{provider}: the response was not valid JSON of the expected shape")
    if isinstance(exc, KeyError | TypeError | AttributeError | IndexError):
        return UpstreamMalformedResponse(f"{provider}: the response had an unexpected shape")
    log.warning("unclassified %s error: %s", provider, type(exc).__name__)
    return UpstreamError(f"{provider}: unexpected {type(exc).__name__}")
