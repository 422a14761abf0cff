"""What the limits-across-replicas proof needs beside the gateways: a pass-through proxy in
front of the fake upstream that counts requests in flight, the records of one client key
read straight from the shared database, GET /v1/usage, and the clock of the limit periods.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import httpx
from aiohttp import ClientSession, ClientTimeout, web

from tests.e2e.gateway_process import GatewayProcess

HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class InFlightProxy:
    """HTTP pass-through to `target` on a thread of its own, counting requests in flight.

    A request is counted from its arrival here until its answer is sent back: that interval
    holds the fake's own handling of it, so `max_in_flight` bounds what the fake saw.
    """

    def __init__(self, target: str, port: int) -> None:
        self.target, self.port = target.rstrip("/"), port
        self.in_flight = self.max_in_flight = self.total = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="in-flight-proxy", daemon=True)
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.max_in_flight, self.total = self.in_flight, 0

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.total += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    async def _forward(self, request: web.Request) -> web.Response:
        self._enter()
        try:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
            async with self._session.request(
                request.method, self.target + request.path_qs, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
                return web.Response(body=payload, status=upstream.status, headers=out)
        finally:
            self._leave()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._session = ClientSession(timeout=ClientTimeout(total=120))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
        await self._session.close()

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    def start(self) -> InFlightProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the in-flight proxy did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# --- records, straight from the shared database --------------------------------------------
LIMIT_COLUMNS = ("request_id", "client_name", "status", "http_status", "error_type", "limit_hit", "cost_usd",
                 "output_tokens", "stream")  # fmt: skip


def client_records(gw: GatewayProcess, client: str) -> list[dict[str, Any]]:
    url = gw.env["DATABASE_URL"]
    sql = (
        f"SELECT {', '.join(LIMIT_COLUMNS)} FROM completions_app_completionrecord "  # noqa: S608 - constant columns
        "WHERE client_name = %s"
    )
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(sql, (client,)).fetchall()
    else:
        conn = sqlite3.connect(urlparse(url).path, timeout=10)
        try:
            rows = conn.execute(sql.replace("%s", "?"), (client,)).fetchall()
        finally:
            conn.close()
    out = [dict(zip(LIMIT_COLUMNS, row, strict=True)) for row in rows]
    for row in out:
        row["cost_usd"] = Decimal(str(row["cost_usd"]))
    return out


def wait_client_records(gw: GatewayProcess, client: str, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Records are written in batches off the request path: poll until `n` of the client's exist."""
    deadline = time.monotonic() + timeout
    rows = client_records(gw, client)
    while len(rows) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = client_records(gw, client)
    return rows


def recorded_spend(rows: list[dict[str, Any]]) -> Decimal:
    return sum((r["cost_usd"] for r in rows), Decimal(0))


# --- GET /v1/usage -------------------------------------------------------------------------
def usage(gw: GatewayProcess, key: str) -> dict[str, Any]:
    r = httpx.get(f"{gw.url}/v1/usage", headers={"authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def key_usage(gw: GatewayProcess, key: str) -> dict[str, Any]:
    """The key's own counts in GET /v1/usage (window usage, spend, reserved, what remains),
    as the shared limiter counts them (`exact`: from Redis, not one process's memory)."""
    mine = usage(gw, key)["key"]
    assert mine["exact"] is True, mine
    return mine["usage"]


def money(value: Any) -> Decimal:
    return Decimal(str(value))


# --- the limit periods (TIME_ZONE is UTC) ----------------------------------------------------
def next_day_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def next_month_start(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def within_one_minute_window(margin_s: float = 15) -> None:
    """Sleep to the next minute if fewer than `margin_s` seconds remain in this one, so a
    burst lands in one fixed RPM window."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.2)


def rejections(gw: GatewayProcess, limit: str) -> float:
    """ai_proxy_limit_rejections_total{limit} of one replica (0 before its first)."""
    prefix = f'ai_proxy_limit_rejections_total{{limit="{limit}"}} '
    return sum(float(line[len(prefix) :]) for line in gw.metrics().splitlines() if line.startswith(prefix))
