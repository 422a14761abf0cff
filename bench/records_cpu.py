"""Audit-record writer CPU per record: the gateway's prepared executemany against Django's own API.

    .venv/bin/python -m bench.records_cpu --n 10000 --reps 3
    .venv/bin/python -m bench.records_cpu --n 10000 --reps 3 --pg postgres://postgres@127.0.0.1:5432/postgres

Runs on a throw-away database: a migrated SQLite file in a temporary directory, or with --pg a
database created next to the given URL's and dropped at the end. --n records are queued (the
request path's RecordRow tuples, the writer thread held off), then written by the writer
thread in batches of --batch; per path and repetition it reports the writer thread's own CPU
per record (its pthread CPU clock; on SQLite this includes the SQLite engine, in process) and,
with a local PostgreSQL, the server backends' CPU per record (from /proc). Paths alternate
within each repetition so drift hits all alike:

- gateway: completions_app/services/recorder.py as it is (record_sql.py's prepared INSERT);
- bulk_create: the same queue and thread, a CompletionRecord built per row on the writer and
  `CompletionRecord.objects.bulk_create(..., ignore_conflicts=True)`;
- every_field_prepped: the gateway's INSERT with every value through `get_db_prep_save`
  (record_sql._AS_IS skipped nothing);
- django_cursor: the gateway's INSERT on Django's own cursor (client-side binding, unprepared).

Prints the median of the repetitions with every repetition's value.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="records per repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="RECORD_BATCH_SIZE")
    parser.add_argument("--pg", default="", help="a PostgreSQL URL: bench on a new database on that server")
    return parser.parse_args()


ARGS = parse()
TMP = tempfile.TemporaryDirectory(prefix="records-bench-")
DB_NAME = f"records_bench_{uuid.uuid4().hex[:8]}"
if ARGS.pg:
    os.environ["DATABASE_URL"] = urlunparse(urlparse(ARGS.pg)._replace(path=f"/{DB_NAME}"))
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{TMP.name}/bench.sqlite3"
os.environ.update(
    RECORD_BATCH_SIZE=str(ARGS.batch),
    RECORD_QUEUE_MAX=str(max(100_000, 2 * ARGS.n)),
    DJANGO_SETTINGS_MODULE="aiproxy.settings",
    # Production settings, as `serve` runs (DEBUG=1 would also log every query).
    DEBUG="0",
    SECRET_KEY=uuid.uuid4().hex * 2,
    FIELD_ENCRYPTION_KEY=uuid.uuid4().hex * 2,
    ALLOWED_HOSTS="127.0.0.1",
    LOG_LEVEL="WARNING",
)
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ARGS.pg, autocommit=True) as conn:
        conn.execute(sql)


if ARGS.pg:
    pg_admin(f'CREATE DATABASE "{DB_NAME}"')

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction  # noqa: E402

from completions_app.models import ClientKey, CompletionRecord  # noqa: E402
from completions_app.services import record_sql  # noqa: E402
from completions_app.services.recorder import Prepared, RecordRow, RecordWriter, last_used_update  # noqa: E402
from tests.factories import client_create, provider_create  # noqa: E402


class BulkCreateWriter(RecordWriter):
    @staticmethod
    def _prepare(batch):  # noqa: ANN001, ANN205
        return [CompletionRecord(uuid.uuid4(), *row) for row in batch]  # positional: Model.__init__'s fast path

    @staticmethod
    def _write_batch(records) -> None:  # noqa: ANN001
        with transaction.atomic():
            CompletionRecord.objects.bulk_create(records, ignore_conflicts=True)
            last_used_update(records)


class EveryFieldPreppedWriter(RecordWriter):
    @staticmethod
    def _prepare(batch):  # noqa: ANN001, ANN205
        conn = connections[DEFAULT_DB_ALIAS]
        fields = record_sql.FIELDS
        return [
            Prepared(
                r, [f.get_db_prep_save(v, conn) for f, v in zip(fields, (fields[0].get_default(), *r), strict=True)]
            )
            for r in batch
        ]


class DjangoCursorWriter(RecordWriter):
    @staticmethod
    def _write_batch(prepared) -> None:  # noqa: ANN001
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.executemany(record_sql.insert_sql(connection), [p.params for p in prepared])
            last_used_update(p.row for p in prepared)


PATHS = {
    "gateway": RecordWriter,
    "bulk_create": BulkCreateWriter,
    "every_field_prepped": EveryFieldPreppedWriter,
    "django_cursor": DjangoCursorWriter,
}


def rows(n: int, clients: list[int]) -> list[RecordRow]:
    out = []
    for i in range(n):
        key = f"key{1 + i % 2}"
        out.append(
            RecordRow(
                created_at=datetime.now(UTC),
                request_id=uuid.uuid4().hex,
                client_id=clients[i % len(clients)],
                client_name="svc",
                interface="openai",
                model="gpt-mini",
                served_model="gpt-mini",
                provider="oa",
                provider_key=key,
                status="ok",
                error_type="",
                http_status=200,
                input_tokens=30 + i % 7,
                output_tokens=64,
                reasoning_tokens=0,
                cache_read_tokens=0,
                cache_write_tokens=0,
                input_price_per_mtok=Decimal("0.15"),
                output_price_per_mtok=Decimal("0.60"),
                cache_read_price_per_mtok=Decimal("0.075"),
                cache_write_price_per_mtok=Decimal("0.15"),
                cost_usd=Decimal("0.0000429"),
                cost_saved_usd=Decimal(0),
                usage_estimated=False,
                latency_ms=12.345 + i % 5,
                ttft_ms=3.21 if i % 2 else None,
                cached=False,
                stream=bool(i % 2),
                finish_reason="stop",
                attempts=[{"model": "gpt-mini", "provider": "oa", "key": key, "outcome": "ok"}],
            )
        )
    return out


TICK = os.sysconf("SC_CLK_TCK")


def server_cpu() -> dict[int, float]:
    """CPU s so far of each PostgreSQL backend connected to the bench database (a local server only)."""
    if not ARGS.pg or urlparse(ARGS.pg).hostname not in ("127.0.0.1", "localhost", "::1"):
        return {}
    import psycopg

    with psycopg.connect(ARGS.pg, autocommit=True) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (DB_NAME,))]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def thread_cpu(t: threading.Thread) -> float:
    assert t.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(t.ident))


def measure(cls: type[RecordWriter], records: list[RecordRow]) -> tuple[float, float]:
    """Writer-thread CPU µs and database-server CPU µs per record, len(records) queued then written."""
    w = cls()
    start = w._ensure_thread
    w._ensure_thread = lambda: None  # type: ignore[method-assign]
    for r in records:
        w.submit(r)
    w._ensure_thread = start  # type: ignore[method-assign]
    before = server_cpu()
    assert w.flush(600)
    assert w._thread is not None
    cpu = thread_cpu(w._thread)
    server = sum(v - before.get(pid, 0.0) for pid, v in server_cpu().items())
    w.stop()
    count = CompletionRecord.objects.count()
    assert count == len(records), f"{count} records written, {len(records)} expected"
    with transaction.atomic(), connection.cursor() as c:
        c.execute(f"DELETE FROM {connection.ops.quote_name(CompletionRecord._meta.db_table)}")  # noqa: S608
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("VACUUM ANALYZE")  # same starting point each run: no dead rows left by the last one
    connection.close()
    return cpu / len(records) * 1e6, server / len(records) * 1e6


def line(name: str, values: list[float]) -> str:
    return f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |"


def main() -> None:
    call_command("migrate", verbosity=0)
    provider_create("oa", "openai", "http://127.0.0.1:9", keys=("sk-oa-key-one-1111", "sk-oa-key-two-2222"))
    clients = []
    for name in ("svc-a", "svc-b"):
        client_create(name)
        clients.append(ClientKey.objects.get(name=name).id)
    records = rows(ARGS.n, clients)
    connection.close()
    for cls in PATHS.values():  # warm-up: imports, statement caches
        measure(cls, records[:1000])
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in PATHS}
    for _ in range(ARGS.reps):
        for name, cls in PATHS.items():
            results[name].append(measure(cls, records))

    db = f"PostgreSQL {connection.pg_version}" if connection.vendor == "postgresql" else "SQLite"
    print(f"{db}, n={ARGS.n} records, batch {ARGS.batch}, reps={ARGS.reps}: median | every repetition")
    print("| path: CPU µs per record | median | runs |")
    print("|---|---|---|")
    for name, values in results.items():
        print(line(f"{name}: writer thread", [v[0] for v in values]))
    if any(v[1] for values in results.values() for v in values):
        for name, values in results.items():
            print(line(f"{name}: PostgreSQL server", [v[1] for v in values]))


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        if ARGS.pg:
            for conn in connections.all():
                if hasattr(conn, "close_pool"):
                    conn.close_pool()
            pg_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        TMP.cleanup()
