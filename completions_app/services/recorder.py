"""Audit records leave the request path through a bounded queue and are
written in batches by one writer thread.

One writer means SQLite never sees two writers ("database is locked"); batches
mean a per-request INSERT never caps throughput. When the database is down the
batch is kept and retried with backoff: records wait in memory (bounded by
RECORD_QUEUE_MAX, then dropped with a metric and a log line) and are written
when it returns. `flush()` drains the queue; `serve` calls it on SIGTERM.

The request path queues a `RecordRow` (a tuple of plain values, no model
instance). The writer sends a batch as one prepared INSERT through
`cursor.executemany` (record_sql.py: why not bulk_create, with the numbers), and
moves the clients' and provider keys' `last_used_at` forward with the ORM (one
UPDATE per client and key per batch).

A batch refused for its data (IntegrityError: a client key deleted meanwhile;
DataError) is written row by row, so one bad row does not cost the others: a
row refused again is kept without its client link, or with its texts cut to
their columns, else dropped with a metric and a log line. Any other error is
the database being away: the same batch, same primary keys, is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DataError,
    IntegrityError,
    close_old_connections,
    connection,
    connections,
    transaction,
)

from completions_app import metrics
from providers_app.models import ProviderKey

from ..models import ClientKey, CompletionRecord
from .record_sql import CLIENT, FIELDS, MAX_LENGTHS, RecordRow, insert_sql, params_prepare, record_cursor

__all__ = ["FIELDS", "RecordRow", "RecordWriter", "record_submit", "records_flush", "writer"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


class Prepared(NamedTuple):
    """A queued row and its parameters for the INSERT (primary key included), adapted once per batch."""

    row: RecordRow
    params: list[Any]


class RecordWriter:
    def __init__(self) -> None:
        self._queue: deque[Any] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._inflight = 0  # records taken by the writer but not yet committed
        self._stopping = False

    # --- request path -----------------------------------------------------------
    def submit(self, record: RecordRow) -> None:
        """Non-blocking; safe from the event loop and from any thread."""
        with self._cond:
            if len(self._queue) >= settings.RECORD_QUEUE_MAX:
                metrics.records_dropped_total.inc()
                log.error("audit record queue full (%d); dropping record %s", len(self._queue), record.request_id)
                return
            self._queue.append(record)
            metrics.record_queue_depth.set(len(self._queue) + self._inflight)
            self._ensure_thread()
            if len(self._queue) >= settings.RECORD_BATCH_SIZE:
                self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._inflight

    # --- writer thread --------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="aiproxy-record-writer", daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[Any]:
        with self._cond:
            if not self._queue and not self._stopping:
                self._cond.wait(timeout=settings.RECORD_FLUSH_INTERVAL_S)
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), settings.RECORD_BATCH_SIZE))]
            self._inflight = len(batch)
            return batch

    def _run(self) -> None:
        backoff = 0.1
        while True:
            batch = self._take_batch()
            if not batch:
                # Idle: give the connection back (PostgreSQL pool; test databases can be dropped).
                connection.close()
                if self._stopping:
                    return
                continue
            # Once per batch, before any attempt: the primary keys stay the same across retries.
            prepared = self._prepare(batch)
            while prepared:
                try:
                    self._write(prepared)
                    backoff = 0.1
                    break
                except Exception as exc:
                    metrics.record_write_errors_total.inc()
                    log.warning(
                        "writing %d audit records failed (%s); retrying in %.1fs",
                        len(prepared),
                        type(exc).__name__,
                        backoff,
                    )
                    close_old_connections()
                    try:
                        connection.close()
                    except Exception:  # noqa: S110 - the connection is already broken
                        pass
                    time.sleep(backoff)  # the writer thread, never the event loop
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
            with self._cond:
                self._inflight = 0
                metrics.record_queue_depth.set(len(self._queue))
                self._cond.notify_all()

    @staticmethod
    def _prepare(batch: list[RecordRow]) -> list[Prepared]:
        conn = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper, not the proxy: ops is looked up per value
        out: list[Prepared] = []
        for row in batch:
            try:
                params = params_prepare(row, conn)
            except Exception as exc:
                # A value no database would take (not a decimal, a naive datetime...): retrying cannot help.
                metrics.records_dropped_total.inc()
                log.error("audit record %s has an invalid value (%s); dropped", row.request_id, exc)
                continue
            out.append(Prepared(row, params))
        return out

    def _write(self, prepared: list[Prepared]) -> None:
        try:
            self._write_batch(prepared)
        except (IntegrityError, DataError, UnicodeEncodeError):
            # Retrying would fail forever (UnicodeEncodeError: text the driver cannot send, e.g.
            # a lone surrogate, which audit's row_storable escapes): save row by row what can be.
            self._write_rows(prepared)

    @staticmethod
    def _write_batch(prepared: list[Prepared]) -> None:
        with transaction.atomic():
            with record_cursor() as cursor:
                cursor.executemany(insert_sql(cursor.db), [p.params for p in prepared])
            last_used_update(p.row for p in prepared)
        metrics.records_written_total.inc(len(prepared))

    @staticmethod
    def _write_rows(prepared: list[Prepared]) -> None:
        written = [row for row, params in prepared if _insert_one(row, params)]
        if written:
            with transaction.atomic():
                last_used_update(written)
            metrics.records_written_total.inc(len(written))

    # --- lifecycle ----------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every submitted record is written (True) or timeout (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._queue:
                self._ensure_thread()
            self._cond.notify_all()
            while self._queue or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, 0.05))
                self._cond.notify_all()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Flush, then end the writer thread (it restarts on the next submit)."""
        self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)


def _insert_one(row: RecordRow, params: list[Any]) -> bool:
    """One row in its own transaction; False (logged, counted as dropped) when it cannot be written."""
    without_client = cut_texts = False
    while True:
        try:
            with transaction.atomic(), record_cursor() as cursor:
                cursor.execute(insert_sql(cursor.db), params)
            return True
        except IntegrityError as exc:
            if without_client or params[CLIENT] is None:
                error: Exception = exc
                break
            # The client key was deleted since the request: keep the record, by name only.
            without_client, params = True, params.copy()
            params[CLIENT] = None
        except DataError as exc:
            # A value its column cannot hold (PostgreSQL: a text longer than its
            # varchar, e.g. an unknown model name): keep the record, the texts cut.
            cut = [
                v[:n] if n is not None and isinstance(v, str) and len(v) > n else v
                for v, n in zip(params, MAX_LENGTHS, strict=True)
            ]
            if cut_texts or cut == params:
                error = exc
                break
            cut_texts, params = True, cut
        except UnicodeEncodeError as exc:
            error = exc
            break
    metrics.records_dropped_total.inc()
    log.error("audit record %s cannot be written (%s: %s); dropped", row.request_id, type(error).__name__, error)
    return False


def last_used_update(rows: Iterable[RecordRow]) -> None:
    """Move the clients' and provider keys' last_used_at forward (never back): one UPDATE each per batch."""
    clients: dict[int, datetime] = {}
    keys: dict[tuple[str, str], datetime] = {}
    ok = CompletionRecord.Status.OK
    for r in rows:
        when = r.created_at
        if r.client_id is not None:
            clients[r.client_id] = max(when, clients.get(r.client_id, when))
        if r.provider_key and r.status == ok:
            k = (r.provider, r.provider_key)
            keys[k] = max(when, keys.get(k, when))
    for client_id, when in clients.items():
        ClientKey.objects.filter(pk=client_id).exclude(last_used_at__gte=when).update(last_used_at=when)
    for (provider, label), when in keys.items():
        ProviderKey.objects.filter(provider__name=provider, label=label).exclude(last_used_at__gte=when).update(
            last_used_at=when
        )


writer = RecordWriter()


def record_submit(record: RecordRow) -> None:
    writer.submit(record)


def records_flush(timeout: float = 30.0) -> bool:
    return writer.flush(timeout)
