"""Classify whatever a provider call raised into one aiproxy.errors.UpstreamError.

The router and breakers read only the resulting class (retryable? breaker fault?), so
this is the one place that knows the SDKs' exception types:

- anthropic / openai: APIStatusError (status + body), APITimeoutError, APIConnectionError,
  APIResponseValidationError, and APIError without a status (an error event inside a
  200 stream); raw httpx2 errors escape both SDKs while a stream is being read.
- ollama: ResponseError(error, status_code; -1 = error line inside a stream), the builtin
  ConnectionError it raises on connect failure, raw httpx errors otherwise.
- any of them: json.JSONDecodeError (a body that is not JSON).

Messages are built from the provider's own `error.message`, never from the SDK's string
(which embeds whole bodies), are cut to ~300 characters and have the key scrubbed.

No SDK or HTTP library is imported here: the SDKs load only with the adapters of the kinds
that are configured (registry.py), and an exception can only be an instance of a class
whose module is already loaded, so the checks look up `sys.modules`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from aiproxy.errors import (
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


def _loaded(attr: str, *modules: str) -> tuple[type[BaseException], ...]:
    """`module.attr` of those modules already imported; () matches nothing in isinstance."""
    return tuple(getattr(m, attr) for name in modules if (m := sys.modules.get(name)) is not None)


_SDKS = ("anthropic", "openai")
_HTTPX = ("httpx", "httpx2")

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


def _aiohttp_connection_failure(exc: BaseException) -> bool:
    # openai's vendored aiohttp transport reports every aiohttp connection error as a
    # ConnectTimeout; the original aiohttp error in the cause chain tells the truth.
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, _loaded("ClientConnectionError", "aiohttp")) and not isinstance(seen, asyncio.TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class StatusError(Exception):
    """An upstream error without an SDK exception: an error status read by the direct transport
    (direct.py), or an error event inside a 200 stream (status 200; the body's type says
    which error). `body` is the decoded JSON, else the text."""

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
    if status < 400:
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
    if isinstance(exc, _loaded("APIStatusError", *_SDKS)):
        return _from_status(exc.status_code, exc.response.headers, exc.body, provider, api_key)
    if isinstance(exc, _loaded("APIResponseValidationError", *_SDKS)):
        return UpstreamMalformedResponse(f"{provider}: response did not match the expected schema")
    if isinstance(exc, _loaded("APITimeoutError", *_SDKS)):
        if _aiohttp_connection_failure(exc):
            return UpstreamConnectionError(f"{provider}: could not connect or the connection dropped")
        return UpstreamTimeout(f"{provider}: no answer within the timeout")
    if isinstance(exc, _loaded("APIConnectionError", *_SDKS)):
        return UpstreamConnectionError(f"{provider}: could not connect or the connection dropped")
    if isinstance(exc, _loaded("APIError", "openai")):
        # openai raises a bare APIError for an `{"error": ...}` chunk inside a stream.
        kind, msg = _body_error(exc.body)  # type: ignore[attr-defined]
        mapped = ERROR_TYPE_STATUS.get(kind or "", 500)
        return error_for_status(mapped, _describe(provider, None, msg, "stream error", api_key))
    if isinstance(exc, _loaded("ResponseError", "ollama")):
        error, status = exc.error, exc.status_code  # type: ignore[attr-defined]
        msg = error if isinstance(error, str) else None
        if status < 400:  # -1: an error line inside a stream
            return UpstreamServerError(_describe(provider, None, msg, "stream error", api_key))
        return error_for_status(status, _describe(provider, status, msg, "error", api_key))
    if isinstance(exc, _loaded("TimeoutException", *_HTTPX) + (TimeoutError,)):
        # TimeoutError is also asyncio.TimeoutError and aiohttp's timeouts. httpx2 errors escape
        # the SDKs while a stream is read; see _aiohttp_connection_failure.
        if _aiohttp_connection_failure(exc):
            return UpstreamConnectionError(f"{provider}: could not connect or the connection dropped")
        return UpstreamTimeout(f"{provider}: no answer within the timeout")
    if isinstance(exc, _loaded("DecodingError", *_HTTPX) + (ValueError,)):
        # ValueError covers json.JSONDecodeError and pydantic's ValidationError.
        return UpstreamMalformedResponse(f"{provider}: the response was not valid JSON of the expected shape")
    if isinstance(exc, _loaded("TransportError", *_HTTPX) + _loaded("ClientError", "aiohttp") + (OSError,)):
        # OSError covers the builtin ConnectionError that ollama raises on connect failure.
        return UpstreamConnectionError(f"{provider}: could not connect or the connection dropped")
    if isinstance(exc, KeyError | TypeError | AttributeError | IndexError):
        return UpstreamMalformedResponse(f"{provider}: the response had an unexpected shape")
    log.warning("unclassified %s error: %s", provider, type(exc).__name__)
    return UpstreamError(f"{provider}: unexpected {type(exc).__name__}")
