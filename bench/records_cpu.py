"""Audit-record cost, old path (model instance + bulk_create) vs new (RecordRow + one prepared INSERT).

    .venv/bin/python -m bench.records_cpu --n 20000 --reps 5
    .venv/bin/python -m bench.records_cpu --n 20000 --reps 5 --pg postgres://postgres@127.0.0.1:5432/postgres

Runs on a throw-away database: a migrated SQLite file in a temporary directory, or with --pg a
database created next to the given URL's and dropped at the end. "old" is the code this change
replaced, kept below verbatim (outcome_finish building a CompletionRecord and calling
`.labels()`; the writer's bulk_create and ORM updates); "new" is the gateway's code. Old and new
alternate within each repetition so drift hits both alike. Per repetition and path:

- loop: CPU µs per request of `outcome_finish` (record + metrics + queue submit) on the calling
  thread, the writer thread held off, so nothing competes.
- write: --n records already queued, written by the writer thread in batches of --batch: wall
  time until `flush()` returns and the writer thread's own CPU (its pthread CPU clock). On SQLite
  this CPU includes the SQLite engine's work (in process); PostgreSQL's server is another process,
  whose backends' CPU (from /proc, local server only) is shown on its own line.
- both: --n `outcome_finish` calls as fast as they go while the writer thread writes, then
  `flush()`: wall time, the calling thread's CPU and the writer thread's CPU.

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
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="records per repetition")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500, help="RECORD_BATCH_SIZE")
    parser.add_argument("--pg", default="", help="a PostgreSQL URL: bench on a new database on that server")
    return parser.parse_args()


ARGS = parse()
TMP = tempfile.TemporaryDirectory(prefix="records-bench-")
if ARGS.pg:
    PG_ADMIN = ARGS.pg
    DB_NAME = f"records_bench_{uuid.uuid4().hex[:8]}"
    os.environ["DATABASE_URL"] = urlunparse(urlparse(ARGS.pg)._replace(path=f"/{DB_NAME}"))
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{TMP.name}/bench.sqlite3"
os.environ["RECORD_BATCH_SIZE"] = str(ARGS.batch)
os.environ["RECORD_QUEUE_MAX"] = str(max(100_000, 2 * ARGS.n))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiproxy.settings")
# Production settings, as `serve` runs (DEBUG=1 would also log every query).
os.environ.update(
    DEBUG="0",
    SECRET_KEY=uuid.uuid4().hex * 2,
    FIELD_ENCRYPTION_KEY=uuid.uuid4().hex * 2,
    ALLOWED_HOSTS="127.0.0.1",
    LOG_LEVEL="WARNING",
)
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


if ARGS.pg:
    pg_admin(f'CREATE DATABASE "{DB_NAME}"')

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402

from completions_app.models import ClientKey, CompletionRecord  # noqa: E402
from completions_app.services import audit  # noqa: E402
from completions_app.services.audit import Outcome  # noqa: E402
from completions_app.services.cost import Prices, cost_compute  # noqa: E402
from completions_app.services.recorder import RecordWriter  # noqa: E402
from completions_app.services.types import Attempt, CallContext, ClientIdentity, CompletionInput  # noqa: E402
from metrics_app import metrics  # noqa: E402
from providers_app.adapters.types import Message, Usage  # noqa: E402
from providers_app.models import ProviderKey  # noqa: E402
from tests.factories import client_create, provider_create  # noqa: E402


# --- the old path, as it was before this change ------------------------------------------------
def old_outcome_finish(o: Outcome, record_submit: Callable[[CompletionRecord], None]) -> None:
    p = o.prices
    record = CompletionRecord(
        created_at=o.started_at,
        request_id=o.ctx.request_id,
        client_id=o.ctx.client.id,
        client_name=o.ctx.client.name,
        interface=o.ctx.interface,
        model=o.inp.model,
        served_model=o.served_model,
        provider=o.provider,
        provider_key=o.provider_key,
        status=o.status,
        error_type=o.error_type,
        http_status=o.http_status,
        input_tokens=o.usage.input_tokens,
        output_tokens=o.usage.output_tokens,
        cache_read_tokens=o.usage.cache_read_tokens,
        cache_write_tokens=o.usage.cache_write_tokens,
        input_price_per_mtok=p.input if p else None,
        output_price_per_mtok=p.output if p else None,
        cache_read_price_per_mtok=p.cache_read if p else None,
        cache_write_price_per_mtok=p.cache_write if p else None,
        cost_usd=o.cost,
        cost_saved_usd=o.cost_saved,
        usage_estimated=o.usage_estimated,
        latency_ms=round(o.latency_ms, 3),
        ttft_ms=round(o.ttft_ms, 3) if o.ttft_ms is not None else None,
        cached=o.cached,
        stream=o.stream,
        finish_reason=o.finish_reason or "",
        attempts=[a.as_dict() for a in o.attempts],
    )
    record_submit(record)

    model, provider = o.served_model or o.inp.model, o.provider or "none"
    metrics.requests_total.labels(model=model, provider=provider, status=o.status).inc()
    metrics.request_duration_seconds.labels(model=model, provider=provider).observe(o.latency_ms / 1000)
    metrics.overhead_seconds.observe(max(0.0, o.latency_ms / 1000 - o.upstream_s))
    for kind, n in (
        ("input", o.usage.input_tokens),
        ("output", o.usage.output_tokens),
        ("cache_read", o.usage.cache_read_tokens),
        ("cache_write", o.usage.cache_write_tokens),
    ):
        if n:
            metrics.tokens_used_total.labels(model=model, provider=provider, type=kind).inc(n)
    if o.cost:
        metrics.cost_total.labels(model=model, provider=provider).inc(float(o.cost))


class OldWriter(RecordWriter):
    """The same queue, thread and retries; the batch written as before (bulk_create, ORM updates)."""

    @staticmethod
    def _prepare(batch):  # noqa: ANN001, ANN205
        return batch

    @staticmethod
    def _write_rows(batch) -> None:  # noqa: ANN001
        for record in batch:
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
                continue
            except IntegrityError:
                pass
            record.client_id = None
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
            except IntegrityError:
                metrics.records_dropped_total.inc()

    @staticmethod
    def _write_batch(batch) -> None:  # noqa: ANN001
        with transaction.atomic():
            CompletionRecord.objects.bulk_create(batch, ignore_conflicts=True)
            last_used: dict[int, datetime] = {}
            for r in batch:
                if r.client_id is not None:
                    last_used[r.client_id] = max(r.created_at, last_used.get(r.client_id, r.created_at))
            for client_id, when in last_used.items():
                ClientKey.objects.filter(pk=client_id).exclude(last_used_at__gte=when).update(last_used_at=when)
            keys_used: dict[tuple[str, str], datetime] = {}
            for r in batch:
                if r.provider_key and r.status == CompletionRecord.Status.OK:
                    k = (r.provider, r.provider_key)
                    keys_used[k] = max(r.created_at, keys_used.get(k, r.created_at))
            for (provider, label), when in keys_used.items():
                ProviderKey.objects.filter(provider__name=provider, label=label).exclude(last_used_at__gte=when).update(
                    last_used_at=when
                )
        metrics.records_written_total.inc(len(batch))


# --- set-up ----------------------------------------------------------------------------------------
def outcomes(n: int, clients: list[ClientIdentity]) -> list[Outcome]:
    prices = Prices(
        input=Decimal("0.15"), output=Decimal("0.60"), cache_read=Decimal("0.075"), cache_write=Decimal("0.15")
    )
    out = []
    for i in range(n):
        o = Outcome(
            ctx=CallContext(request_id=uuid.uuid4().hex, client=clients[i % len(clients)], interface="openai"),
            inp=CompletionInput(model="gpt-mini", messages=(Message("user", "hello"),)),
            stream=bool(i % 2),
        )
        o.served_model, o.provider, o.provider_key = "gpt-mini", "oa", f"key{1 + i % 2}"
        o.usage = Usage(input_tokens=30 + i % 7, output_tokens=64)
        o.prices, o.cost = prices, cost_compute(usage=o.usage, prices=prices)
        o.latency_ms, o.upstream_s, o.finish_reason = 12.3456 + i % 5, 0.011, "stop"
        o.ttft_ms = 3.21 if o.stream else None
        o.attempts = [Attempt(model="gpt-mini", provider="oa", key=o.provider_key, outcome="ok")]
        out.append(o)
    return out


def reset() -> None:
    with transaction.atomic(), connection.cursor() as c:
        c.execute(f"DELETE FROM {connection.ops.quote_name(CompletionRecord._meta.db_table)}")  # noqa: S608
    ClientKey.objects.update(last_used_at=None)
    ProviderKey.objects.update(last_used_at=None)
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("VACUUM ANALYZE")  # same starting point each run: no dead rows left by the last one
    connection.close()


TICK = os.sysconf("SC_CLK_TCK")


def server_cpu() -> dict[int, float]:
    """CPU s so far of each PostgreSQL backend connected to the bench database (a local server only)."""
    if not ARGS.pg or urlparse(ARGS.pg).hostname not in ("127.0.0.1", "localhost", "::1"):
        return {}
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        pids = [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (DB_NAME,))]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def server_used(before: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in server_cpu().items())


def thread_cpu(t: threading.Thread) -> float:
    assert t.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(t.ident))


# --- measurements ----------------------------------------------------------------------------------------
def finisher(kind: str, w: RecordWriter) -> Callable[[Outcome], None]:
    if kind == "old":
        return lambda o: old_outcome_finish(o, w.submit)
    audit.record_submit = w.submit  # outcome_finish looks it up at each call
    return audit.outcome_finish


def measure_loop(kind: str, os_: list[Outcome]) -> float:
    """CPU µs per outcome_finish, the writer thread held off."""
    w = OldWriter() if kind == "old" else RecordWriter()
    w._ensure_thread = lambda: None  # type: ignore[method-assign]
    finish = finisher(kind, w)
    t0 = time.thread_time()
    for o in os_:
        finish(o)
    return (time.thread_time() - t0) / len(os_) * 1e6


def measure_write(kind: str, os_: list[Outcome]) -> tuple[float, float, float]:
    """Wall s, writer-thread CPU s and database-server CPU s to write len(os_) queued records."""
    w = OldWriter() if kind == "old" else RecordWriter()
    hold = w._ensure_thread
    w._ensure_thread = lambda: None  # type: ignore[method-assign]
    finish = finisher(kind, w)
    for o in os_:
        finish(o)
    w._ensure_thread = hold  # type: ignore[method-assign]
    server = server_cpu()
    t0 = time.perf_counter()
    assert w.flush(600)
    wall = time.perf_counter() - t0
    assert w._thread is not None
    cpu = thread_cpu(w._thread)
    w.stop()
    return wall, cpu, server_used(server)


def measure_both(kind: str, os_: list[Outcome]) -> tuple[float, float, float]:
    """Wall s, calling-thread CPU s and writer-thread CPU s: submit while the writer writes, then flush."""
    w = OldWriter() if kind == "old" else RecordWriter()
    finish = finisher(kind, w)
    t0, c0 = time.perf_counter(), time.thread_time()
    for o in os_:
        finish(o)
    assert w.flush(600)
    wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    assert w._thread is not None
    writer_cpu = thread_cpu(w._thread)
    w.stop()
    return wall, cpu, writer_cpu


def check(n: int) -> None:
    count = CompletionRecord.objects.count()
    assert count == n, f"{count} records written, {n} expected"


def line(name: str, values: list[float], fmt: str = "{:.3f}") -> str:
    return f"| {name} | {fmt.format(statistics.median(values))} | {', '.join(fmt.format(v) for v in values)} |"


def main() -> None:
    call_command("migrate", verbosity=0)
    provider_create("oa", "openai", "http://127.0.0.1:9", keys=("sk-oa-key-one-1111", "sk-oa-key-two-2222"))
    clients = []
    for name in ("svc-a", "svc-b"):
        client_create(name)
        row = ClientKey.objects.get(name=name)
        clients.append(ClientIdentity(id=row.id, name=row.name, allowed_models=None))
    os_ = outcomes(ARGS.n, clients)
    connection.close()

    # Warm-up: imports, statement caches, metric children.
    for kind in ("old", "new"):
        measure_both(kind, os_[:1000])
        reset()

    results: dict[str, list[float]] = {}
    for _ in range(ARGS.reps):
        for kind in ("old", "new"):
            results.setdefault(f"{kind} loop", []).append(measure_loop(kind, os_))
            for measure, names in (
                (measure_write, ("write wall", "write cpu", "write server")),
                (measure_both, ("both wall", "both loop cpu", "both writer cpu")),
            ):
                values = measure(kind, os_)
                check(ARGS.n)
                reset()
                for name, value in zip(names, values, strict=True):
                    results.setdefault(f"{kind} {name}", []).append(value)

    db = f"PostgreSQL {connection.pg_version}" if connection.vendor == "postgresql" else "SQLite"
    print(f"{db}, n={ARGS.n} records, batch {ARGS.batch}, reps={ARGS.reps}: median | every repetition")
    print("| measure | median | runs |")
    print("|---|---|---|")
    us = "{:.2f}"
    for kind in ("old", "new"):
        print(line(f"{kind}: outcome_finish CPU µs/request (loop only)", results[f"{kind} loop"], us))
    for kind in ("old", "new"):
        print(line(f"{kind}: write {ARGS.n} queued, wall s", results[f"{kind} write wall"]))
        print(line(f"{kind}: write {ARGS.n} queued, writer CPU s", results[f"{kind} write cpu"]))
        per = [v / ARGS.n * 1e6 for v in results[f"{kind} write cpu"]]
        print(line(f"{kind}: writer CPU µs/record", per, us))
        if ARGS.pg and any(results[f"{kind} write server"]):
            per = [v / ARGS.n * 1e6 for v in results[f"{kind} write server"]]
            print(line(f"{kind}: PostgreSQL server CPU µs/record", per, us))
    for kind in ("old", "new"):
        print(line(f"{kind}: submit+write {ARGS.n}, wall s", results[f"{kind} both wall"]))
        print(line(f"{kind}: submit+write {ARGS.n}, submitting thread CPU s", results[f"{kind} both loop cpu"]))
        print(line(f"{kind}: submit+write {ARGS.n}, writer CPU s", results[f"{kind} both writer cpu"]))


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        if ARGS.pg:
            from django.db import connections

            for conn in connections.all():
                if hasattr(conn, "close_pool"):
                    conn.close_pool()
            pg_admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        TMP.cleanup()
