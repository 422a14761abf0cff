"""The SQL the audit writer sends (recorder.py), built once from the models' _meta.

`RecordRow` is one record in CompletionRecord's column order; `Statements` holds the
INSERT (with the conflict clause `bulk_create(ignore_conflicts=True)` writes) and the
`last_used_at` updates, and adapts each value as the ORM's `get_db_prep_save` would, so
the database receives exactly what `bulk_create` sent. `record_cursor` is the cursor the
writer runs them on (server-side binding and prepared statements on PostgreSQL).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field
from django.db.models.constants import OnConflict

from providers_app.models import Provider, ProviderKey

from ..models import ClientKey, CompletionRecord


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


_META = CompletionRecord._meta
FIELDS: tuple[Field, ...] = (_META.pk, *(f for f in _META.concrete_fields if not f.primary_key))
if RecordRow._fields != tuple(f.attname for f in FIELDS[1:]):
    raise ImproperlyConfigured(
        "RecordRow no longer matches CompletionRecord's columns: "
        f"{RecordRow._fields} != {tuple(f.attname for f in FIELDS[1:])}"
    )
CLIENT = FIELDS.index(_META.get_field("client"))  # position in a row's parameters

# Values of these types reach the driver as the ORM would send them (the types
# RecordRow declares: str, int, bool, float): get_db_prep_save would return them unchanged.
_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "FloatField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)

Prep = Callable[[Any, Any], Any]  # (value, connection) -> what the driver is given


def _prep(field: Field, ops: Any) -> Prep | None:
    """What the ORM's INSERT does to this field's value (`get_db_prep_save`), or None when it
    changes nothing. The shortcuts skip only steps that return the value they are given."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if kind in _AS_IS:
        return None
    full: Prep = field.get_db_prep_save
    if kind == "DecimalField" and type(ops).adapt_decimalfield_value is BaseDatabaseOperations.adapt_decimalfield_value:
        # to_python(a finite Decimal) is an equal Decimal and the backend adapts nothing (its
        # driver adapter does, as for the ORM's): the 6 prices and costs of a row, ~4 µs each.
        def decimal(value: Any, conn: Any) -> Any:
            return value if value is None or (type(value) is Decimal and value.is_finite()) else full(value, conn)

        return decimal
    if kind == "DateTimeField":
        # get_prep_value(an aware datetime) is that datetime; the backend's adaptation remains.
        def aware(value: Any, conn: Any) -> Any:
            if type(value) is datetime and value.utcoffset() is not None:
                return conn.ops.adapt_datetimefield_value(value)
            return full(value, conn)

        return aware
    return full


class Statements:
    """The writer's SQL and value adaptation, built once per database vendor from the models' _meta."""

    def __init__(self, conn: Any) -> None:
        qn = conn.ops.quote_name
        columns = ", ".join(qn(f.column) for f in FIELDS)
        placeholders = ", ".join(["%s"] * len(FIELDS))
        # What bulk_create(ignore_conflicts=True) sends: a batch retried after a
        # commit whose answer was lost must not fail on its own primary keys.
        self.insert = " ".join(
            s
            for s in (
                conn.ops.insert_statement(on_conflict=OnConflict.IGNORE),
                f"{qn(_META.db_table)} ({columns}) VALUES ({placeholders})",
                conn.ops.on_conflict_suffix_sql(FIELDS, OnConflict.IGNORE, None, None),
            )
            if s
        )
        # (position, adaptation) for the columns whose value needs the field's
        # adaptation: the primary key, datetimes, decimals, JSON.
        self.preps: list[tuple[int, Prep]] = [
            (i, prep) for i, f in enumerate(FIELDS) if (prep := _prep(f, conn.ops)) is not None
        ]
        self.max_lengths = [f.max_length if isinstance(f.max_length, int) else None for f in FIELDS]

        # last_used_at: moved forward only (exclude(last_used_at__gte=when), as the ORM wrote it).
        # Every name below comes from the models' _meta, quoted by the backend: S608 is about untrusted input.
        ck = ClientKey._meta
        self.client_used_prep = ck.get_field("last_used_at").get_db_prep_save
        used = qn(ck.get_field("last_used_at").column)
        self.client_used = (
            f"UPDATE {qn(ck.db_table)} SET {used} = %s"  # noqa: S608
            f" WHERE {qn(ck.pk.column)} = %s AND ({used} IS NULL OR {used} < %s)"
        )
        pk, pv = ProviderKey._meta, Provider._meta
        self.key_used_prep = pk.get_field("last_used_at").get_db_prep_save
        used = qn(pk.get_field("last_used_at").column)
        self.key_used = (
            f"UPDATE {qn(pk.db_table)} SET {used} = %s"  # noqa: S608
            f" WHERE {qn(pk.get_field('provider').column)} IN"
            f" (SELECT {qn(pv.pk.column)} FROM {qn(pv.db_table)} WHERE {qn(pv.get_field('name').column)} = %s)"
            f" AND {qn(pk.get_field('label').column)} = %s AND ({used} IS NULL OR {used} < %s)"
        )


_statements: dict[str, Statements] = {}


def statements(conn: Any = None) -> Statements:
    conn = conn if conn is not None else connection
    sql = _statements.get(conn.vendor)
    if sql is None:
        sql = _statements[conn.vendor] = Statements(conn)
    return sql


@contextmanager
def record_cursor() -> Iterator[Any]:
    """A cursor on Django's connection for the writer's statements.

    On PostgreSQL (psycopg 3) one that binds server-side, so that executemany prepares the
    INSERT once and then sends only values. Django's own cursors bind client-side (each row
    a new statement text, formatted here and parsed and planned by the server), and Django
    turns psycopg's prepared statements off by default (prepare_threshold=None, for
    PgBouncer in transaction mode); the writer turns them on for its executemany calls
    only, unless DATABASES["default"]["OPTIONS"] sets prepare_threshold itself. Measured per
    row (5,000 rows in batches of 500, PostgreSQL 15 on the same host): client-side binding
    ~70 µs writer CPU; server-side ~40 µs, and ~190 µs of the server's CPU unprepared, ~80 µs
    prepared. The cursor is wrapped as Django wraps its own: django.db errors, execute
    wrappers, query log.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql" or not psycopg3():
        with conn.cursor() as cursor:
            yield cursor
        return
    import psycopg
    from psycopg.types.numeric import Int8BinaryDumper, Int8Dumper

    conn.ensure_connection()
    pg = conn.connection
    with conn.wrap_database_errors:
        raw = psycopg.Cursor(pg)
    # Every int as bigint (the columns cast it on assignment): psycopg otherwise picks int2, int4
    # or int8 by value, and each mix of parameter types is a statement prepared anew.
    raw.adapters.register_dumper(int, Int8Dumper)
    raw.adapters.register_dumper(int, Int8BinaryDumper)
    cursor = conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)
    threshold = pg.prepare_threshold
    if threshold is None and "prepare_threshold" not in conn.settings_dict.get("OPTIONS", {}):
        # executemany always asks for a prepared statement; nothing else reaches this threshold.
        pg.prepare_threshold = sys.maxsize
    try:
        with cursor:
            yield cursor
    finally:
        pg.prepare_threshold = threshold


def psycopg3() -> bool:
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


def last_used_update(cursor: Any, sql: Statements, rows: Iterable[RecordRow]) -> None:
    """Move the clients' and provider keys' last_used_at forward: one statement each per batch."""
    clients: dict[int, datetime] = {}
    keys: dict[tuple[str, str], datetime] = {}
    ok = CompletionRecord.Status.OK
    for r in rows:
        when = r.created_at
        if r.client_id is not None:
            last = clients.get(r.client_id)
            if last is None or when > last:
                clients[r.client_id] = when
        if r.provider_key and r.status == ok:
            k = (r.provider, r.provider_key)
            last = keys.get(k)
            if last is None or when > last:
                keys[k] = when
    conn = cursor.db
    if clients:
        prep = sql.client_used_prep
        args = []
        for client_id, when in clients.items():
            at = prep(when, conn)
            args.append((at, client_id, at))
        cursor.executemany(sql.client_used, args)
    if keys:
        prep = sql.key_used_prep
        args = []
        for (provider, label), when in keys.items():
            at = prep(when, conn)
            args.append((at, provider, label, at))
        cursor.executemany(sql.key_used, args)
