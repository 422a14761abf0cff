"""A record is never dropped for its content (issue 14, item 9), through a real gateway on the
suite's database (SQLite, or PostgreSQL under CI's PostgreSQL pass): a model name PostgreSQL
would refuse (a NUL) or too long for its column leaves exactly one record, with the text made
storable; and no such request keeps the writer from recording the requests after it."""

from __future__ import annotations

import json
import sqlite3
import time
from urllib.parse import urlparse

import httpx
import pytest

from providers_app.errors import ModelNotFound
from tests.resilience.helpers import AUTH

MSGS = [{"role": "user", "content": "hi"}]


def _stored(gw, request_id: str) -> list[tuple[str, str, str]]:
    """(model, status, error_type) of every record with this request id, read from the gateway's database."""
    url = gw.env["DATABASE_URL"]
    sql = "SELECT model, status, error_type FROM completions_app_completionrecord WHERE request_id = "
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql + "%s", [request_id]).fetchall()
    conn = sqlite3.connect(urlparse(url).path, timeout=10)
    try:
        return conn.execute(sql + "?", [request_id]).fetchall()
    finally:
        conn.close()


def _records(gw, request_id: str, n: int = 1) -> list[tuple[str, str, str]]:
    deadline = time.monotonic() + 10
    while len(_stored(gw, request_id)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # one writer batch more: a second record, if any, would be there
    return _stored(gw, request_id)


def _chat(gw, model: str, request_id: str) -> httpx.Response:
    # json.dumps writes NUL and lone surrogates as JSON escapes ("\u0000", "\ud800"), as a client's library would.
    body = json.dumps({"model": model, "messages": MSGS}).encode()
    return httpx.post(f"{gw.url}/v1/chat/completions", content=body, timeout=20,
                      headers={**AUTH, "content-type": "application/json", "x-request-id": request_id})  # fmt: skip


@pytest.mark.parametrize(
    ("model", "stored"),
    [
        ("gpt-4o-mini\x00evil", "gpt-4o-mini\\u0000evil"),
        ("=HYPERLINK(" + "x" * 244 + ")", ("=HYPERLINK(" + "x" * 244)[:199] + "…"),  # 256: the longest /v1 takes
        ("\x00" * 256, ("\\u0000" * 256)[:199] + "…"),
    ],
    ids=["nul", "longer-than-its-column", "nul-escapes-longer-than-its-column"],
)
def test_an_unstorable_model_name_leaves_one_record_with_storable_text(gateway, fake, model, stored):
    request_id = f"content-{len(model)}-{model.count(chr(0))}"
    r = _chat(gateway, model, request_id)
    assert r.status_code == 404, r.text[:300]
    assert _records(gateway, request_id) == [(stored, "error", ModelNotFound.code)]
    assert fake.requests() == []


def test_the_writer_keeps_recording_after_odd_texts(gateway, fake):
    # A lone surrogate is refused by the /v1 parser (400); whatever it leaves, the records after it are written.
    assert _chat(gateway, "gpt-\ud800", "content-surrogate").status_code == 400
    assert _chat(gateway, "gpt-4o-mini\x00", "content-nul-2").status_code == 404
    r = _chat(gateway, "gpt-4o-mini", "content-after")
    assert r.status_code == 200, r.text[:300]
    assert _records(gateway, "content-after") == [("gpt-4o-mini", "ok", "")]
    assert len(_records(gateway, "content-nul-2")) == 1
