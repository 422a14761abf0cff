"""Graceful shutdown and "nothing lost": SIGTERM with 50 slow requests in flight
lets them finish and flushes their records (exit 0); N requests, N records."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.fakes.behaviour import Behaviour

from .helpers import AUTH
from .launcher import db_records

SLOW = Behaviour.ok(delay_s=0.5, path="/v1/chat", times=-1)


async def test_sigterm_under_load_completes_in_flight_and_flushes(make_gateway, fake):
    gw = make_gateway(env={"SHUTDOWN_GRACE_S": "20"})
    fake.script(SLOW)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=gw.url, headers=AUTH, timeout=30, limits=limits) as client:

        async def one(i: int) -> httpx.Response:
            body = {"model": "gpt-solo", "prompt": f"in flight {i}", "temperature": 0.5, "stream": i % 5 == 0}
            return await client.post("/v1/complete", json=body, headers={"x-request-id": f"term-{i}"})

        tasks = [asyncio.create_task(one(i)) for i in range(50)]
        deadline = time.monotonic() + 15
        while fake.stats()["requests"] < 50 and time.monotonic() < deadline:  # all 50 reached the upstream
            await asyncio.sleep(0.05)
        assert fake.stats()["requests"] == 50
        gw.proc.send_signal(signal.SIGTERM)
        responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 50
    streamed = [r for r in responses if r.headers["content-type"].startswith("text/event-stream")]
    assert len(streamed) == 10 and all('"type":"done"' in r.text for r in streamed)
    assert await asyncio.to_thread(gw.proc.wait, 30) == 0
    rows = gw.records()  # the process is gone: what is in the database is all there is
    assert sorted(r["request_id"] for r in rows) == sorted(f"term-{i}" for i in range(50))
    assert {r["status"] for r in rows} == {"ok"}


async def test_n_concurrent_requests_leave_exactly_n_records(make_gateway, fake):
    gw = make_gateway()
    n, concurrency = 300, 32
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=gw.url, headers=AUTH, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:  # fmt: skip

        async def one(i: int) -> int:
            # A mix: plain, streamed, cache hits (temperature 0, repeated prompts) and client errors.
            body = {"model": "gpt-4o-mini" if i % 7 else "no-such-model", "prompt": f"load {i % 10}",
                    "temperature": 0 if i % 2 else 0.5, "stream": i % 3 == 0}  # fmt: skip
            async with sem:
                r = await client.post("/v1/complete", json=body, headers={"x-request-id": f"load-{i}"})
                return r.status_code

        codes = await asyncio.gather(*(one(i) for i in range(n)))
    assert sorted(set(codes)) == [200, 404]
    deadline = time.monotonic() + 20
    rows = await asyncio.to_thread(db_records, gw)
    while len(rows) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        rows = await asyncio.to_thread(db_records, gw)
    ids = [r["request_id"] for r in rows]
    assert len(ids) == n and set(ids) == {f"load-{i}" for i in range(n)}
    statuses = {r["status"] for r in rows}
    assert {"ok", "cache_hit", "error"} <= statuses
