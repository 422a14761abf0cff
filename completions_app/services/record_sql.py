"""The INSERT the audit writer sends (recorder.py), instead of `bulk_create`.

Why not `CompletionRecord.objects.bulk_create(...)`: writer-thread CPU per record in batches
of 500 (`python -m bench.records_cpu --n 10000 --reps 5 [--pg ...]`, medians, 2026-11-29, a
shared 2-core host): bulk_create (instances built on the writer) 127 µs on SQLite, 91 µs on
PostgreSQL 15 (+32 µs of the server's CPU); this prepared executemany 42 µs and 38 µs
(+38 µs server). 2.4–3× the writer's CPU, where ~1.2× would have kept the ORM's own API.

`RecordRow` is one record in CompletionRecord's column order; the INSERT is built from the
model's `_meta` (the table stays the model's and its migrations') and each value that is not
a plain str/int/bool/float goes through its field's own `get_db_prep_save`, so the database
receives what bulk_create sends (tests/unit/services/test_recorder.py compares every column).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field
from django.db.models.constants import OnConflict

from ..models import CompletionRecord


class RecordRow(NamedTuple):
    """One audit record, in CompletionRecord's column order without the primary
    key (the writer adds it). Checked against the model when this module loads."""

    created_at: datetime
    request_id: str
    client_id: int | None
    client_name: str
    interface: str
    model: str
    served_model: str
    provider: str
    provider_key: str
    status: str
    error_type: str
    http_status: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    input_price_per_mtok: Decimal | None
    output_price_per_mtok: Decimal | None
    cache_read_price_per_mtok: Decimal | None
    cache_write_price_per_mtok: Decimal | None
    cost_usd: Decimal
    cost_saved_usd: Decimal
    usage_estimated: bool
    latency_ms: float
    ttft_ms: float | None
    cached: bool
    stream: bool
    finish_reason: str
    attempts: list[dict[str, str]]
    limit_hit: str = ""  # the limit that refused the request: "<owner label>:<limit>" (key:ci-bot:rpm)
    end_user: str = ""  # the request's `user`
    cache_write_1h_tokens: int = 0
    cache_write_1h_price_per_mtok: Decimal | None = None


_META = CompletionRecord._meta
FIELDS: tuple[Field, ...] = (_META.pk, *(f for f in _META.concrete_fields if not f.primary_key))
if RecordRow._fields != tuple(f.attname for f in FIELDS[1:]):
    raise ImproperlyConfigured(
        "RecordRow no longer matches CompletionRecord's columns: "
        f"{RecordRow._fields} != {tuple(f.attname for f in FIELDS[1:])}"
    )
CLIENT = FIELDS.index(_META.get_field("client"))  # position in a row's parameters
MAX_LENGTHS = [f.max_length if isinstance(f.max_length, int) else None for f in FIELDS]

# Fields whose values (RecordRow's str, int, bool, float) get_db_prep_save returns unchanged:
# skipping them takes the writer from 53 to 42 µs per record on SQLite, 57 to 38 on PostgreSQL
# (same bench, "every_field_prepped").
_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BigIntegerField",
        "PositiveBigIntegerField",
        "BooleanField",
        "CharField",
        "FloatField",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def _prep(field: Field) -> Callable[[Any, Any], Any]:
    """The field's `get_db_prep_save`, with a shortcut for the common value of the row's 6
    decimals and 2 datetimes (the steps skipped return the value they are given): the writer
    thread 64 -> 56 µs per request at c16 (per-thread CPU of the gateway under wrk, 2026-11-29)."""
    full = field.get_db_prep_save
    kind = field.get_internal_type()
    if kind == "DecimalField":

        def decimal(value: Any, conn: Any) -> Any:
            # to_python(a finite Decimal) is an equal Decimal; a backend with the base
            # adapt_decimalfield_value adapts nothing (its driver does, as for the ORM's).
            if value is None or (
                type(value) is Decimal
                and value.is_finite()
                and type(conn.ops).adapt_decimalfield_value is BaseDatabaseOperations.adapt_decimalfield_value
            ):
                return value
            return full(value, conn)

        return decimal
    if kind == "DateTimeField":

        def aware(value: Any, conn: Any) -> Any:
            # get_prep_value(an aware datetime) is that datetime; the backend's adaptation remains.
            if type(value) is datetime and value.utcoffset() is not None:
                return conn.ops.adapt_datetimefield_value(value)
            return full(value, conn)

        return aware
    return full


# (position, adaptation) for the others: the primary key, datetimes, decimals, JSON.
PREPS: list[tuple[int, Callable[[Any, Any], Any]]] = [
    (i, _prep(f))
    for i, f in enumerate(FIELDS)
    if (f.target_field if f.is_relation else f).get_internal_type() not in _AS_IS
]


def params_prepare(row: RecordRow, conn: Any) -> list[Any]:
    """The INSERT's parameters for a row, a new primary key first; raises on a value no database takes."""
    params = [FIELDS[0].get_default(), *row]
    for i, prep in PREPS:
        params[i] = prep(params[i], conn)
    return params


_inserts: dict[str, str] = {}


def insert_sql(conn: Any) -> str:
    """INSERT with the conflict clause bulk_create(ignore_conflicts=True) writes: a batch
    retried after a commit whose answer was lost must not fail on its own primary keys."""
    sql = _inserts.get(conn.vendor)
    if sql is None:
        qn = conn.ops.quote_name
        columns = ", ".join(qn(f.column) for f in FIELDS)
        placeholders = ", ".join(["%s"] * len(FIELDS))
        parts = (
            conn.ops.insert_statement(on_conflict=OnConflict.IGNORE),
            f"{qn(_META.db_table)} ({columns}) VALUES ({placeholders})",
            conn.ops.on_conflict_suffix_sql(FIELDS, OnConflict.IGNORE, None, None),
        )
        sql = _inserts[conn.vendor] = " ".join(s for s in parts if s)
    return sql


@contextmanager
def record_cursor() -> Iterator[Any]:
    """A cursor on Django's connection for the INSERT; on PostgreSQL (psycopg 3) one that binds
    server-side with the statement prepared once per connection.

    Django's cursors bind client-side (each row a new statement text for the server to parse
    and plan) and turn psycopg's prepared statements off (prepare_threshold=None, for
    PgBouncer in transaction mode; an explicit OPTIONS["prepare_threshold"] is respected).
    Measured (same bench, "django_cursor") per record: Django's cursor 49 µs writer + 84 µs
    server CPU; this one 38 + 38. The cursor is wrapped as Django wraps its own
    (django.db errors, execute wrappers, query log).
    """
    conn = connections[DEFAULT_DB_ALIAS]
    conn.ensure_connection()
    pg = conn.connection
    if conn.vendor != "postgresql" or not hasattr(pg, "prepare_threshold"):  # SQLite, psycopg2
        with conn.cursor() as cursor:
            yield cursor
        return
    import psycopg  # noqa: PLC0415 - only with a PostgreSQL database
    from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper  # noqa: PLC0415

    with conn.wrap_database_errors:
        raw = psycopg.Cursor(pg)
    # Every int as bigint (the columns cast it): psycopg otherwise picks int2, int4 or int8 by
    # value, and each mix of parameter types is a statement prepared anew.
    raw.adapters.register_dumper(int, Int8Dumper)
    raw.adapters.register_dumper(int, Int8BinaryDumper)
    cursor = conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)
    threshold = pg.prepare_threshold
    if threshold is None and "prepare_threshold" not in conn.settings_dict.get("OPTIONS", {}):
        pg.prepare_threshold = sys.maxsize  # executemany always prepares; nothing else reaches this
    try:
        with cursor:
            yield cursor
    finally:
        pg.prepare_threshold = threshold
