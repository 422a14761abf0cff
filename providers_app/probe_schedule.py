"""Provider probes on a schedule inside `serve`, so health is known without a Celery beat.

One process of a `serve` runs it (the single process, or worker 0 of `--workers N`:
aiproxy/runtime.py). Each tick probes only when some provider has not been probed for most of an interval,
so a Celery beat, other replicas and "Probe now" clicks do not multiply the calls.
The probe itself is blocking (its own event loop, database writes): it runs in a daemon
thread and the serving event loop only awaits its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.db.models import Min
from django.utils import timezone

from .models import Provider
from .probes import providers_probe

log = logging.getLogger(__name__)

FIRST_DELAY_S = 5.0  # let the server come up before the first probe
DUE_FRACTION = 0.9  # "recent" = within 90 % of an interval: ticks a little early still probe


def probe_due(*, last_probe_at: datetime | None, now: datetime, interval_s: float) -> bool:
    return last_probe_at is None or now - last_probe_at >= timedelta(seconds=interval_s * DUE_FRACTION)


def providers_probe_if_due(interval_s: float) -> dict[str, object] | None:
    """Probe every enabled provider unless all were probed recently (by anyone); None = skipped.

    The oldest probe decides: a "Probe now" of one provider does not delay the others'."""
    try:
        providers = Provider.objects.filter(enabled=True)
        never = providers.filter(last_probe_at__isnull=True).exists()
        oldest = None if never else providers.aggregate(oldest=Min("last_probe_at"))["oldest"]
        if not probe_due(last_probe_at=oldest, now=timezone.now(), interval_s=interval_s):
            return None
        return providers_probe()
    finally:
        connections.close_all()  # this thread's connections: the thread ends here


def _in_daemon_thread(fn: Callable[[], Any]) -> asyncio.Future:
    """fn() in a daemon thread (a running probe never holds up shutdown); a future for its end."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def target() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task, which logs it
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name="provider-probes", daemon=True).start()
    return done


async def probe_loop(
    *,
    interval_s: float,
    stop: asyncio.Event,
    run: Callable[[], Any] | None = None,
    first_delay_s: float | None = None,
) -> int:
    """Tick every interval_s until `stop` is set; returns the number of ticks (for tests)."""
    run = run or (lambda: providers_probe_if_due(interval_s))
    ticks = 0
    delay = min(FIRST_DELAY_S, interval_s) if first_delay_s is None else first_delay_s
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            break
        ticks += 1
        try:
            summary = await _in_daemon_thread(run)
            if summary is not None:
                log.info("scheduled probe: %s", summary)
        except Exception:
            log.exception("scheduled provider probe failed; next in %.0fs", interval_s)
        delay = interval_s
    return ticks
