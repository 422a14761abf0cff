"""Audit records leave the request path through a bounded queue and are
written in batches by one writer thread.

One writer means SQLite never sees two writers ("database is locked"); batches
mean a per-request INSERT never caps throughput. When the database is down the
batch is kept and retried with backoff: records wait in memory (bounded by
RECORD_QUEUE_MAX, then dropped with a metric and a log line) and are written
when it returns. `flush()` drains the queue; `serve` calls it on SIGTERM.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from metrics_app import metrics
from providers_app.models import ProviderKey

from ..models import ClientKey, CompletionRecord

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


class RecordWriter:
    def __init__(self) -> None:
        self._queue: deque[CompletionRecord] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._inflight = 0  # records taken by the writer but not yet committed
        self._stopping = False

    # --- request path -----------------------------------------------------------
    def submit(self, record: CompletionRecord) -> None:
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

    def _take_batch(self) -> list[CompletionRecord]:
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
            while True:
                try:
                    self._write(batch)
                    backoff = 0.1
                    break
                except Exception as exc:
                    metrics.record_write_errors_total.inc()
                    log.warning(
                        "writing %d audit records failed (%s); retrying in %.1fs",
                        len(batch),
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

    def _write(self, batch: list[CompletionRecord]) -> None:
        try:
            self._write_batch(batch)
        except IntegrityError:
            # Retrying would fail forever: save row by row what can be saved.
            self._write_rows(batch)

    @staticmethod
    def _write_rows(batch: list[CompletionRecord]) -> None:
        for record in batch:
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
                continue
            except IntegrityError:
                pass
            # The client key was deleted since the request: keep the record, by name only.
            record.client_id = None
            try:
                with transaction.atomic():
                    record.save(force_insert=True)
            except IntegrityError:
                metrics.records_dropped_total.inc()
                log.error("audit record %s cannot be written (integrity error); dropped", record.request_id)

    @staticmethod
    def _write_batch(batch: list[CompletionRecord]) -> None:
        with transaction.atomic():
            # ignore_conflicts: a batch retried after a commit whose answer was
            # lost must not fail on its own primary keys.
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


writer = RecordWriter()


def record_submit(record: CompletionRecord) -> None:
    writer.submit(record)


def records_flush(timeout: float = 30.0) -> bool:
    return writer.flush(timeout)
