"""The pure parts of providers_app.adapters.errors (the HTTP paths are in test_faults.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from providers_app.adapters.errors import MAX_MESSAGE_CHARS, error_for_status, parse_retry_after, scrub
from providers_app.errors import (
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, UpstreamBadRequest),
        (404, UpstreamBadRequest),
        (413, UpstreamBadRequest),
        (422, UpstreamBadRequest),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (408, UpstreamTimeout),
        (429, UpstreamRateLimited),
        (500, UpstreamServerError),
        (503, UpstreamServerError),
        (529, UpstreamServerError),
    ],
)
def test_error_for_status(status, cls):
    err = error_for_status(status, "m")
    assert type(err) is cls
    assert err.upstream_status == status


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "7"}, 7.0),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=60), usegmt=True)
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert 55 <= parse_retry_after({"retry-after": future}) <= 60


def test_scrub_removes_the_key_and_key_like_strings():
    text = scrub("bad key sk-live-abcdef123456 and MYKEY1234 and Bearer tok.en", "MYKEY1234")
    assert "MYKEY1234" not in text
    assert "sk-live-abcdef123456" not in text
    assert "tok.en" not in text


def test_scrub_truncates():
    assert len(scrub("x" * 5000, None)) == MAX_MESSAGE_CHARS
