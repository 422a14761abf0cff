"""Strict request parsing shared by the /v1 calls.

JSON bodies are decoded strictly: invalid UTF-8, NaN/Infinity, duplicate keys
and keys that differ only by case are rejected (two parsers reading the same
body differently is how smuggling starts). The fields are then checked against
the operation's declared shape (declarations.py), the same declaration the
OpenAPI document is made from. Field errors name the field.

What a body may be labelled: `Content-Type: application/json` (charset utf-8 if
one is given) or no Content-Type at all; anything else (curl's default
`application/x-www-form-urlencoded` included: a body that a proxy in front may
read as a form must not be read here as JSON) is a 415. `Content-Encoding: gzip`
is inflated bounded by MAX_REQUEST_BYTES (a bomb is a 413 after at most that many
bytes); any other encoding is a 415.
"""

from __future__ import annotations

import json
import re
import uuid
import zlib
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from providers_app.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

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


class _HugeInt(int):
    """An integer literal past Python's int-conversion limit (4,300 digits). No declared
    field accepts it (the checks want exactly `int`), so it is refused naming the field,
    rather than json.loads failing with no field to name."""


def _int(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:
        return _HugeInt(-1 if literal.startswith("-") else 1)


def check_content_type(headers: Any) -> None:
    """415 unless the body is labelled JSON in UTF-8, or not labelled at all."""
    given = headers.get("content-type")
    if given is None:
        return  # unlabelled: it must still parse as a JSON object
    media, *params = (part.strip().lower() for part in given.split(";"))
    charsets = {value.strip('"') for name, _, value in (p.partition("=") for p in params) if name.strip() == "charset"}
    if media != "application/json" or not charsets <= {"utf-8", "utf8"}:
        raise UnsupportedMediaType(
            f"Content-Type {given[:64]!r} is not supported: send 'application/json' "
            "(curl: -H 'Content-Type: application/json')."
        )


def _gunzip(body: bytes, limit: int) -> bytes:
    """The inflated body; never more than limit + 1 bytes are produced (a bomb stops there)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise InvalidRequest("Request body is not valid gzip (Content-Encoding: gzip).") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"Request body over {limit} bytes once decompressed.")
    if not inflater.eof or inflater.unused_data:
        raise InvalidRequest("Request body is not one complete gzip stream (Content-Encoding: gzip).")
    return out


def decoded(headers: Any, body: bytes) -> bytes:
    """The body without its Content-Encoding: identity, or gzip; anything else is a 415."""
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(body, settings.MAX_REQUEST_BYTES)
    raise UnsupportedMediaType(f"Content-Encoding {encoding[:32]!r} is not supported: send gzip or none.")


def json_body(request: Any) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.")
    check_content_type(request.headers)
    try:
        body = request.body
    except RequestDataTooBig:  # a body without Content-Length that turned out too large
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.") from None
    if len(body) > settings.MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"Request body over {settings.MAX_REQUEST_BYTES} bytes.")
    body = decoded(request.headers, body)
    if not body:
        raise InvalidRequest("Request body is empty; send a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("Request body is not valid UTF-8.") from None
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants, parse_int=_int)
    except InvalidRequest:
        raise
    except RecursionError:
        raise InvalidRequest("JSON nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"Invalid JSON: {exc.msg} at position {exc.pos}.") from None
    except ValueError:  # a conversion json.loads does itself; no position to give
        raise InvalidRequest("Invalid JSON.") from None
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


def stop_of(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if type(value) is str else tuple(value)
