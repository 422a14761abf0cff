"""How a body may be labelled and encoded (Content-Type, Content-Encoding), and numbers
past any field's range: each is a clear 4xx in the JSON error shape, never a 500 and
never "invalid UTF-8". The module's gateway has MAX_REQUEST_BYTES=65536."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import httpx
import pytest

from completions_app.api.parsing import decoded
from providers_app.errors import PayloadTooLarge
from tests.resilience.helpers import AUTH

ENDPOINTS = ["/v1/complete", "/v1/chat/completions"]
LIMIT = 65536


def _valid(endpoint: str) -> dict:
    if endpoint == "/v1/complete":
        return {"model": "gpt-4o-mini", "prompt": "red green"}
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "red green"}]}


def _post(gw, endpoint: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
    # httpx adds no Content-Type of its own for `content=`: only what the test gives is sent.
    return httpx.post(f"{gw.url}{endpoint}", content=content, headers={**AUTH, **headers}, timeout=20)


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/json"
    return r.json()["error"]


# --- Content-Type ------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",  # curl -d without -H
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/jsonx",
        "application/json, application/json",  # two Content-Type headers, joined
    ],
)
def test_a_body_not_labelled_json_is_415(gateway, fake, endpoint, content_type):
    r = _post(gateway, endpoint, json.dumps(_valid(endpoint)).encode(), {"content-type": content_type})
    error = _error(r, 415)
    assert error["type"] == "unsupported_media_type" and "application/json" in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"content-type": "Application/JSON; charset=UTF-8"},
        {"content-type": 'application/json;charset="utf-8"'},
        {},  # unlabelled: accepted, it must still be a JSON object
    ],
    ids=["plain", "charset", "quoted-charset", "none"],
)
def test_json_or_unlabelled_bodies_are_served(gateway, fake, endpoint, headers):
    r = _post(gateway, endpoint, json.dumps(_valid(endpoint)).encode(), headers)
    assert r.status_code == 200, r.text[:300]


def test_an_unlabelled_body_must_still_be_a_json_object(gateway, fake):
    error = _error(_post(gateway, "/v1/complete", b"model=gpt-4o-mini&prompt=hi", {}), 400)
    assert error["type"] == "invalid_request_error"
    assert fake.requests() == []


# --- Content-Encoding --------------------------------------------------------------------------
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_gzip_body_is_decoded(gateway, fake, endpoint):
    body = gzip.compress(json.dumps(_valid(endpoint)).encode())
    r = _post(gateway, endpoint, body, {**JSON, "content-encoding": "gzip"})
    assert r.status_code == 200, r.text[:300]
    assert "red green" in r.text


def _bomb(size: int) -> bytes:
    """A valid gzip stream of a JSON object inflating to `size` bytes (made in pieces)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"model": "gpt-4o-mini", "prompt": "')]
    zeros = b"0" * (1 << 20)
    for _ in range(size >> 20):
        parts.append(packer.compress(zeros))
    parts.append(packer.compress(b'"}'))
    parts.append(packer.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_413(gateway, fake):
    bomb = _bomb(64 << 20)[:LIMIT]  # the wire limit's worth of a 64 MiB bomb: ~60 MiB inflated
    r = _post(gateway, "/v1/complete", bomb, {**JSON, "content-encoding": "gzip"})
    assert _error(r, 413)["type"] == "request_too_large"
    small = _bomb(1 << 20)  # under the wire limit, 1 MiB inflated: past it once decompressed
    assert len(small) < LIMIT
    r = _post(gateway, "/v1/complete", small, {**JSON, "content-encoding": "gzip"})
    error = _error(r, 413)
    assert error["type"] == "request_too_large" and "decompressed" in error["message"]
    assert fake.requests() == []


def test_inflating_a_bomb_stops_at_the_limit(settings):
    """The inflater makes at most MAX_REQUEST_BYTES + 1 bytes, whatever the bomb holds."""
    settings.MAX_REQUEST_BYTES = LIMIT
    bomb = _bomb(64 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge):
            decoded({"content-encoding": "gzip"}, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * LIMIT, peak


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        ("br", b"\x0b\x02\x80{}\x03", 415),
        ("deflate", zlib.compress(b"{}"), 415),
        ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), 415),
        ("gzip", b'{"model": "gpt-4o-mini", "prompt": "not compressed"}', 400),
        ("gzip", gzip.compress(b'{"model": "gpt-4o-mini", "prompt": "cut"}')[:-6], 400),
    ],
    ids=["br", "deflate", "twice", "not-gzip", "truncated"],
)
def test_other_encodings_are_415_and_broken_gzip_is_400(gateway, fake, encoding, body, status):
    error = _error(_post(gateway, "/v1/complete", body, {**JSON, "content-encoding": encoding}), status)
    assert "UTF-8" not in error["message"]
    assert fake.requests() == []


# --- numbers past a field's range ----------------------------------------------------------------
HUGE = "9" * 4301  # past Python's int-conversion limit (4,300 digits)
OUT_OF_RANGE = ["0", "-1", "1000001", "18446744073709551616", "9" * 4300, HUGE, "-" + HUGE]
INT_FIELDS = {
    "/v1/complete": ["max_tokens"],
    "/v1/chat/completions": ["max_tokens", "max_completion_tokens", "n"],
}


@pytest.mark.parametrize("literal", OUT_OF_RANGE, ids=lambda s: s if len(s) < 24 else f"{len(s)}-digits")
@pytest.mark.parametrize(
    ("endpoint", "field"), [(e, f) for e, fields in INT_FIELDS.items() for f in fields], ids=lambda x: x
)
def test_an_integer_outside_the_fields_range_is_400_naming_it(gateway, fake, endpoint, field, literal):
    body = json.dumps(_valid(endpoint))[:-1] + f', "{field}": {literal}}}'
    error = _error(_post(gateway, endpoint, body.encode(), JSON), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == field and field in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_huge_integer_in_a_number_field_is_400_naming_it(gateway, fake, endpoint):
    body = json.dumps(_valid(endpoint))[:-1] + f', "temperature": {HUGE}}}'
    error = _error(_post(gateway, endpoint, body.encode(), JSON), 400)
    assert error["param"] == "temperature"
