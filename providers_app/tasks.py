"""Celery tasks of providers_app: thin wrappers over providers_app.probes.

"Probe now" in the admin must not hold the page: with a broker the task goes to a worker;
in the embedded default (Celery eager, no worker) it runs in a background thread instead,
where an eager task would have run inside the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.db import InterfaceError, OperationalError, connections, transaction

from aiproxy.celery import app

from .probes import providers_probe

log = logging.getLogger(__name__)

# Retried only for infrastructure faults (database away or locked); a failing provider
# key is a recorded result, never a task failure.
INFRA_ERRORS = (OperationalError, InterfaceError)
BACKGROUND_THREAD_NAME = "provider-probe-now"
# One background probe at a time per process: a second click while one runs is a no-op.
_background = threading.Lock()


@app.task(
    name="providers_app.tasks.probe_providers",
    autoretry_for=INFRA_ERRORS,
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    # A probe run is minutes apart from the next: an old queued one is not worth running.
    expires=600,
)
def probe_providers(provider_ids: list[int] | None = None) -> dict[str, object]:
    return providers_probe(provider_ids=provider_ids)


def probes_queue_is_worker() -> bool:
    """True when a Celery worker runs the task; False in the embedded default (eager)."""
    return not app.conf.task_always_eager


def probes_background_running() -> bool:
    return _background.locked()


def _probe_in_thread(ids: list[int] | None) -> None:
    try:
        providers_probe(provider_ids=ids)
    except Exception:
        log.exception("background probe failed")
    finally:
        _background.release()
        connections.close_all()  # this thread's own connections


def probes_in_background(ids: list[int] | None) -> threading.Thread | None:
    """Probe in a daemon thread of this process; None when one is already running."""
    if not _background.acquire(blocking=False):
        log.info("a background probe is already running; not starting another")
        return None
    thread = threading.Thread(target=_probe_in_thread, args=(ids,), name=BACKGROUND_THREAD_NAME, daemon=True)
    thread.start()
    return thread


def probe_providers_enqueue(*, provider_ids: Iterable[int] | None = None) -> None:
    """Probe after the current transaction commits (so the probe sees the rows just written),
    never inside the caller's request: a worker's task, else a background thread."""
    ids = list(provider_ids) if provider_ids is not None else None
    if probes_queue_is_worker():
        transaction.on_commit(lambda: probe_providers.delay(provider_ids=ids))
    else:
        transaction.on_commit(lambda: probes_in_background(ids))
