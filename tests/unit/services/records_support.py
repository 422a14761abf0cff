"""What the record-writer tests share: a row whose every column holds a value of its own,
writing rows through the writer thread, metric samples, and a row as the database stores it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from django.db import connection
from prometheus_client import REGISTRY

from completions_app.models import CompletionRecord
from completions_app.services.recorder import FIELDS, RecordRow, RecordWriter

PLUS_2 = timezone(timedelta(hours=2))
WHEN = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=PLUS_2)


def row(**changes: object) -> RecordRow:
    """A record whose every column holds a value of its own (so a column mix-up shows)."""
    values: dict[str, object] = {
        "created_at": WHEN,
        "request_id": "req-1",
        "client_id": None,
        "client_name": "svc-ümlaut ✓",
        "interface": "openai",
        "model": "gpt-mini",
        "served_model": "claude-h",
        "provider": "an",
        "provider_key": "key1",
        "status": CompletionRecord.Status.OK,
        "error_type": "rate_limited",
        "http_status": 429,
        "input_tokens": 12345,
        "output_tokens": 678,
        "reasoning_tokens": 11,
        "cache_read_tokens": 9,
        "cache_write_tokens": 10,
        "input_price_per_mtok": Decimal("0.15"),
        "output_price_per_mtok": Decimal("12.345678"),
        "cache_read_price_per_mtok": Decimal("0.075"),
        "cache_write_price_per_mtok": None,
        "cost_usd": Decimal("0.000123456789"),
        "cost_saved_usd": Decimal("1.5"),
        "usage_estimated": True,
        "latency_ms": 1234.567,
        "ttft_ms": 89.125,
        "cached": False,
        "stream": True,
        "finish_reason": "length",
        "attempts": [
            {"model": "gpt-mini", "provider": "oa", "key": "key2", "outcome": "rate_limited"},
            {"model": "claude-h", "provider": "an", "key": "key1", "outcome": "ok"},
        ],
    }
    values.update(changes)
    return RecordRow(**values)  # type: ignore[arg-type]


def write(*rows: RecordRow) -> None:
    """Through the writer thread, as the gateway does, in one batch."""
    w = RecordWriter()
    start = w._ensure_thread
    w._ensure_thread = lambda: None  # type: ignore[method-assign]
    for r in rows:
        w.submit(r)
    w._ensure_thread = start  # type: ignore[method-assign]
    assert w.flush(10)
    w.stop()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stored(request_id: str) -> tuple:
    """The row as the database holds it, every column but the primary key and request_id.
    On SQLite `quote()` shows the stored type too (TEXT '...' vs REAL vs INTEGER)."""
    qn = connection.ops.quote_name
    columns = [qn(f.column) for f in FIELDS[1:] if f.attname != "request_id"]
    if connection.vendor == "sqlite":
        columns = [f"quote({c})" for c in columns]
    table = qn(CompletionRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {qn('request_id')} = %s", [request_id])  # noqa: S608
        [values] = cursor.fetchall()
    return values


# --- what is written -----------------------------------------------------------------------------
