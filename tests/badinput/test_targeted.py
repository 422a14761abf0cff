"""Hand-picked hostile requests: each gets a clear 4xx JSON error, reaches no
upstream, and leaves no successful record."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.e2e.gateway_process import CLIENT_KEY
from tests.resilience.helpers import AUTH
from tests.resilience.launcher import db_records

ENDPOINTS = ["/v1/complete", "/v1/chat/completions"]
MSGS = [{"role": "user", "content": "hi"}]


def _valid(endpoint: str) -> dict:
    return (
        {"model": "gpt-4o-mini", "prompt": "hi"}
        if endpoint == "/v1/complete"
        else {"model": "gpt-4o-mini", "messages": MSGS}
    )


def _assert_clean_4xx(r: httpx.Response, fake, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["type"] and error["message"]
    assert fake.requests() == []  # nothing reached an upstream
    request_id = r.headers.get("x-request-id")
    if request_id:
        assert all(row["status"] != "ok" for row in db_records_for(r.request.url, request_id))


_GATEWAYS: dict[str, object] = {}


def db_records_for(url: httpx.URL, request_id: str) -> list[dict]:
    gw = _GATEWAYS[f"{url.host}:{url.port}"]
    time.sleep(0.3)  # one writer batch interval: a record, if any, would be there
    return [row for row in db_records(gw) if row["request_id"] == request_id]


@pytest.fixture(autouse=True)
def _known(gateway):
    _GATEWAYS[f"127.0.0.1:{gateway.http_port}"] = gateway


def _post(gw, endpoint: str, content: bytes, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{gw.url}{endpoint}", content=content, timeout=20,
                      headers={**AUTH, "content-type": "application/json", **(headers or {})})  # fmt: skip


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversized_body_is_413(gateway, fake, endpoint):
    body = _valid(endpoint) | {"user": "x" * 70_000}
    _assert_clean_4xx(_post(gateway, endpoint, json.dumps(body).encode()), fake, 413)


def test_oversized_chunked_body_without_length_is_413(gateway, fake):
    def chunks():
        yield b'{"model": "gpt-4o-mini", "prompt": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    r = httpx.post(f"{gateway.url}/v1/complete", content=chunks(), timeout=20,
                   headers={**AUTH, "content-type": "application/json"})  # fmt: skip
    _assert_clean_4xx(r, fake, 413)


BAD_BODIES = {
    "deeply nested": b'{"model": "gpt-4o-mini", "prompt": "x", "user": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    "duplicate keys": b'{"model": "gpt-4o-mini", "model": "llama3", "prompt": "hi"}',
    "case-variant keys": b'{"model": "gpt-4o-mini", "MODEL": "llama3", "prompt": "hi"}',
    "nested duplicate": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "role": "system", "content": "x"}]}',
    "invalid utf-8": b'{"model": "gpt-4o-mini", "prompt": "\xff\xfe\xc3"}',
    "NaN": b'{"model": "gpt-4o-mini", "prompt": "hi", "temperature": NaN}',
    "not an object": b'["model", "gpt-4o-mini"]',
    "truncated": b'{"model": "gpt-4o-mini", "prompt": "hi"',
    "empty": b"",
    "huge max_tokens": b'{"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": 1000000000000}',
    "bignum max_tokens": b'{"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": ' + b"9" * 4000 + b"}",
    "negative max_tokens": b'{"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": -1}',
    "negative temperature": b'{"model": "gpt-4o-mini", "prompt": "hi", "temperature": -0.5}',
    "huge temperature": b'{"model": "gpt-4o-mini", "prompt": "hi", "temperature": 1e308}',
    "string temperature": b'{"model": "gpt-4o-mini", "prompt": "hi", "temperature": "0"}',
    "NUL in model": b'{"model": "gpt-4o-mini\\u0000", "prompt": "hi"}',
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_bodies_are_400(gateway, fake, endpoint, name):
    raw = BAD_BODIES[name]
    if endpoint == "/v1/chat/completions":
        raw = raw.replace(b'"prompt": "hi"', b'"messages": [{"role": "user", "content": "hi"}]')
    expected = 404 if name == "NUL in model" else 400  # an unknown model name is a 404
    _assert_clean_4xx(_post(gateway, endpoint, raw), fake, expected)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_lone_surrogate_is_400(gateway, fake, endpoint):
    body = _valid(endpoint)
    if endpoint == "/v1/complete":
        body["prompt"] = "hi \ud800 there"
    else:
        body["messages"] = [{"role": "user", "content": "hi \ud800 there"}]
    _assert_clean_4xx(_post(gateway, endpoint, json.dumps(body).encode()), fake, 400)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "field",
    [{"base_url": "http://169.254.169.254/latest"}, {"api_base": "http://127.0.0.1:6379"},
     {"headers": {"Authorization": "Bearer attacker"}}, {"extra_headers": {"x-forwarded-host": "evil"}},
     {"extra_body": {"x": 1}}, {"api_key": "sk-attacker"}],
    ids=["base_url", "api_base", "headers", "extra_headers", "extra_body", "api_key"],
)  # fmt: skip
def test_fields_that_would_steer_the_upstream_are_refused(gateway, fake, endpoint, field):
    r = _post(gateway, endpoint, json.dumps(_valid(endpoint) | field).encode())
    _assert_clean_4xx(r, fake, 400)
    assert next(iter(field)) in r.json()["error"]["message"]


# --- the bearer token --------------------------------------------------------------------------------
def _raw_request(gw, token: bytes) -> tuple[int, bytes, float]:
    """Send bytes httpx would refuse to put in a header; (status, body, seconds)."""
    body = b'{"model": "gpt-4o-mini", "prompt": "hi"}'
    head = (b"POST /v1/complete HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gw.http_port), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():  # sent even to HTTP/1.0 clients
        body = _dechunk(body)
    return int(head.split(b" ", 2)[1]), body, time.monotonic() - started


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + rest[:n], rest[n + 2 :]
    return out


@pytest.mark.parametrize(
    "token",
    [b"' OR '1'='1", b"x'; DROP TABLE completions_app_clientkey; --", b"aip_\x01\x02\x03",
     b"aip_\x7f", b"aip_\tx", b"\xc3\xa9\xff", b"%00aip", CLIENT_KEY.encode() + b"\x0b"],
    ids=["sql-or", "sql-drop", "ctrl", "del", "tab", "non-utf8", "%00", "valid+vt"],
)  # fmt: skip
def test_hostile_bearer_tokens_are_401_fast(gateway, fake, token):
    status, body, seconds = _raw_request(gateway, token)
    # Bytes the HTTP parser itself refuses may end as its plain 400; anything that
    # reaches the gateway must be a JSON 401. Either way: fast, and nothing upstream.
    assert status in (400, 401), (status, body[:200])
    if status == 401:
        assert json.loads(body)["error"]["type"] == "authentication_error", body[:300]
    assert seconds < 2
    assert fake.requests() == []


def test_bearer_sql_did_not_touch_the_client_table(gateway):
    r = httpx.post(f"{gateway.url}/v1/complete", headers=AUTH, json={"model": "gpt-4o-mini", "prompt": "still ok"})
    assert r.status_code == 200  # the client key table is intact


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/complete", 405), ("PUT", "/v1/chat/completions", 405), ("DELETE", "/v1/health", 405),
    ("POST", "/v1/models", 405), ("GET", "/v1/nope", 404), ("POST", "/v1/complete/", 404),
])  # fmt: skip
def test_unknown_paths_and_wrong_methods_get_json_errors(gateway, fake, method, path, status):
    r = httpx.request(method, f"{gateway.url}{path}", headers=AUTH, timeout=10)
    _assert_clean_4xx(r, fake, status)
    if status == 405:
        assert r.headers["allow"] in ("POST", "GET, HEAD")


def test_head_is_get_without_a_body(gateway):
    r = httpx.head(f"{gateway.url}/v1/health", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == "application/json"
