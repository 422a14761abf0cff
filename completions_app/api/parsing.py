"""Strict request parsing shared by the REST endpoints.

JSON bodies are decoded strictly: invalid UTF-8, NaN/Infinity, duplicate keys
and keys that differ only by case are rejected (two parsers reading the same
body differently is how smuggling starts). Field errors name the field.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from aiproxy.errors import InvalidRequest, PayloadTooLarge
from providers_app.adapters.types import Message

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


# --- typed field readers ----------------------------------------------------------
def unknown_fields(data: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise InvalidRequest(f"Unknown field(s): {', '.join(e[:64] for e in extra[:5])}.", field=extra[0][:64])


def opt_str(data: dict[str, Any], name: str, *, max_len: int = 256) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidRequest(f"`{name}` must be a string of at most {max_len} characters.", field=name)
    return value


def req_str(data: dict[str, Any], name: str, *, max_len: int = 256) -> str:
    value = opt_str(data, name, max_len=max_len)
    if not value:
        raise InvalidRequest(f"`{name}` is required.", field=name)
    return value


def opt_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"`{name}` must be an integer.", field=name)
    return value


def opt_number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"`{name}` must be a number.", field=name)
    return float(value)


def opt_bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"`{name}` must be true or false.", field=name)
    return value


def stop_list(data: dict[str, Any], name: str = "stop") -> tuple[str, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) and s for s in value):
        return tuple(value)
    raise InvalidRequest(f"`{name}` must be a string or a list of non-empty strings.", field=name)


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{where}.content[{j}]: only text parts are supported.", field=f"{where}.content")
            parts.append(part["text"])
        return "".join(parts)
    raise InvalidRequest(f"{where}.content must be a string.", field=f"{where}.content")


ROLE_ALIASES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def messages_list(data: dict[str, Any], name: str = "messages") -> tuple[Message, ...]:
    value = data.get(name)
    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"`{name}` must be a non-empty list of {{role, content}}.", field=name)
    out = []
    for i, m in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"{where} must be an object with role and content.", field=where)
        role = ROLE_ALIASES.get(m.get("role")) if isinstance(m.get("role"), str) else None
        if role is None:
            raise InvalidRequest(f"{where}.role must be one of system, user, assistant.", field=f"{where}.role")
        out.append(Message(role=role, content=_content_text(m.get("content"), where)))
    return tuple(out)
