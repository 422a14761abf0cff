"""The database unavailable for a while: requests are still served, records
wait in the writer's queue (with retry warnings in the log) and are all
written when the database returns.

PostgreSQL only, on purpose: the suite runs as root, for whom `chmod 000` on
a SQLite file or directory changes nothing, and an open SQLite WAL connection
keeps writing through renames; no SQLite trick truly makes writes fail for a
few seconds. With PostgreSQL, `ALLOW_CONNECTIONS false` plus terminating the
gateway's sessions does: every write and every reconnect fails until we undo it.
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse, urlunparse

import pytest

from .helpers import complete, wait_records

CI_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
OUTAGE_S = 6.5  # longer than the in-process auth cache (5 s): lookups must survive it too


def _pg_base_url(request) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = CI_PG_URL
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            pass
    except Exception as exc:  # any reason PostgreSQL is not usable
        if request.config.getoption("--require-services"):
            pytest.fail(f"PostgreSQL required (--require-services) at {url}: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL not available at {url}")
    return url


def _admin(base_url: str, sql: str) -> None:
    import psycopg

    # Connect to the maintenance database: the gateway's own refuses connections during the outage.
    admin_url = urlunparse(urlparse(base_url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def test_database_down_then_back_loses_no_record(request, make_gateway, fake):
    base = _pg_base_url(request)
    gw = make_gateway(database_url=base, env={"RECORD_FLUSH_INTERVAL_S": "0.1"})
    db = urlparse(gw.env["DATABASE_URL"]).path.lstrip("/")
    body = {"model": "gpt-4o-mini", "prompt": "still here", "temperature": 0.5}
    for _ in range(3):
        assert complete(gw, body).status_code == 200
    assert len(wait_records(gw, 3)) == 3

    _admin(base, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
    # The name is ours (GatewayProcess made it); S608 is about untrusted input.
    _admin(base, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")  # noqa: S608
    sent = failures = 0
    try:
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            r = complete(gw, body, timeout=8)
            sent += 1
            failures += r.status_code != 200
            time.sleep(0.2)
    finally:
        _admin(base, f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
    assert failures == 0, f"{failures} of {sent} requests failed while the database was down"

    rows = wait_records(gw, 3 + sent, timeout=20)
    assert len(rows) == 3 + sent
    assert len({r["request_id"] for r in rows}) == len(rows)
    assert "audit records failed" in gw.log()  # the writer said it was retrying
