"""Scheduled provider probes inside `serve`: the tick loop, the skip when a probe ran recently, one process."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from aiproxy.runtime import probe_scheduler_wanted, worker_envs
from providers_app.models import ProviderKey
from providers_app.probe_schedule import probe_due, probe_loop, providers_probe_if_due
from tests.factories import provider_create
from tests.fakes.server import FakeUpstreamThread


def test_probe_due_after_most_of_an_interval():
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert probe_due(last_probe_at=None, now=now, interval_s=300)
    assert not probe_due(last_probe_at=now - timedelta(seconds=200), now=now, interval_s=300)
    assert probe_due(last_probe_at=now - timedelta(seconds=270), now=now, interval_s=300)


def test_the_loop_ticks_on_its_interval_survives_a_failure_and_stops():
    calls: list[float] = []

    def run() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("a probe run that fails must not end the schedule")

    async def main() -> int:
        stop = asyncio.Event()
        loop_task = asyncio.create_task(probe_loop(interval_s=0.05, stop=stop, run=run, first_delay_s=0))
        await asyncio.sleep(0.4)
        stop.set()
        return await asyncio.wait_for(loop_task, timeout=2)

    ticks = asyncio.run(main())
    assert ticks == len(calls) >= 4
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert all(g >= 0.045 for g in gaps), gaps


def test_a_slow_probe_does_not_block_the_event_loop():
    """The probe runs in a thread: the loop keeps answering meanwhile."""
    release = threading.Event()

    async def main() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(probe_loop(interval_s=60, stop=stop, run=lambda: release.wait(5), first_delay_s=0))
        beats = 0
        for _ in range(10):  # 10 x 10 ms while the probe is blocked
            await asyncio.sleep(0.01)
            beats += 1
        release.set()
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        return beats

    started = time.monotonic()
    assert asyncio.run(main()) == 10
    assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_a_tick_probes_then_skips_while_the_last_probe_is_recent():
    with FakeUpstreamThread() as fake:
        provider_create("sched", "openai", fake.openai_base_url, keys=("sk-sched-SECRET-1",))
        results: list[object] = []
        # In a thread, as in serve (the function closes its thread's connections).
        for _ in range(2):
            t = threading.Thread(target=lambda: results.append(providers_probe_if_due(300)))
            t.start()
            t.join(30)
        assert results[0] == {"probed": 1, "healthy": 1, "failed": [], "disabled": []}
        assert results[1] is None  # probed a moment ago (by this loop, a beat or another replica)
        assert ProviderKey.objects.defer("secret").get().healthy is True
        assert len(fake.requests) == 1
        # A provider not probed yet (or probed long ago) makes the next tick probe them all.
        provider_create("late", "openai", fake.openai_base_url, keys=("sk-late-SECRET-2",))
        t = threading.Thread(target=lambda: results.append(providers_probe_if_due(300)))
        t.start()
        t.join(30)
        assert results[2]["probed"] == 2


def test_serve_runs_the_schedule_in_one_process_only():
    assert probe_scheduler_wanted({}, 300)  # a single serve
    assert not probe_scheduler_wanted({}, 0)  # PROBE_INTERVAL_S=0: off
    envs = worker_envs(3, {"AIPROXY_WORKER_CHILD": "1"})
    assert [probe_scheduler_wanted(e, 300) for e in envs] == [True, False, False]
    assert all(e["AIPROXY_WORKER_CHILD"] == "1" for e in envs)
