"""Strict request parsing shared by the /v1 calls.

JSON bodies are decoded strictly: invalid UTF-8, NaN/Infinity, duplicate keys
and keys that differ only by case are rejected (two parsers reading the same
body differently is how smuggling starts). The fields are then checked against
the operation's declared shape (declarations.py), the same declaration the
OpenAPI document is made from. Field errors name the field.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from providers_app.adapters.types import Message
from providers_app.errors import InvalidRequest, PayloadTooLarge

from .shapes import Object, ShapeError, UnknownFields

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def request_id_for(request: Any) -> str:
    """The client's x-request-id when it is sane, else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for key, value in pairs:
        folded = key.casefold()
        if folded in seen:
            raise InvalidRequest(f"Duplicate JSON key {key[:64]!r} (keys are case-insensitive here).", field=key[:64])
        seen.add(folded)
        out[key] = value
    return out


def _no_constants(name: str) -> None:
    raise InvalidRequest(f"{name} is not valid JSON.")


def json_body(request: Any) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.")
    try:
        body = request.body
    except RequestDataTooBig:  # a body without Content-Length that turned out too large
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.") from None
    if len(body) > settings.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.")
    if not body:
        raise InvalidRequest("Request body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.") from None
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants)
    except InvalidRequest:
        raise
    except RecursionError:
        raise InvalidRequest("JSON nested too deeply.") from None
    except ValueError as exc:
        raise InvalidRequest(f"Invalid JSON: {exc.msg} at position {exc.pos}.") from None  # type: ignore[attr-defined]
    if not isinstance(data, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    if "\\ud" in text.lower():
        # JSON escapes can encode lone surrogates ("\ud800"), which no provider
        # accepts as text: refuse them here rather than upstream.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest("Request contains an invalid Unicode escape (a lone surrogate).") from None
    return data


# --- fields: checked against the operation's declared shape (declarations.py) ---------
def parse_body(request: Any, shape: Object) -> dict[str, Any]:
    """The JSON body, checked against `shape`: declared fields only (null = not given),
    defaults filled in, numbers as float. Errors name the field."""
    data = json_body(request)
    try:
        return shape.check(data)
    except UnknownFields as exc:
        raise InvalidRequest(exc.message(), field=exc.field()) from None
    except ShapeError as exc:
        raise InvalidRequest(exc.message(), field=exc.where()) from None


ROLE_ALIASES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def messages_of(messages: list[dict[str, Any]]) -> tuple[Message, ...]:
    """Checked MESSAGE objects as the service's messages (text parts joined)."""
    out = []
    for m in messages:
        content = m["content"]
        text = content if type(content) is str else "".join(part["text"] for part in content)
        out.append(Message(role=ROLE_ALIASES[m["role"]], content=text))
    return tuple(out)


def stop_of(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if type(value) is str else tuple(value)
