"""Open-loop (constant-rate) load: request i is sent at t0 + i/rate whatever
happened to the earlier ones, so a slow server cannot slow the offered load
down (no coordinated omission). wrk2 is not in Debian; this is the stand-in.

Runs as its own process (pinned by the caller) and prints one JSON line:
    python -m bench.openloop --url URL --rate 500 --seconds 60 --body FILE [--key KEY]

Latency is measured from each request's *scheduled* send time; `lag_p99_ms`
(actual minus scheduled send time) shows whether the generator kept up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp


@dataclass
class Sample:
    latency_s: float
    lag_s: float
    ok: bool


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], due: float, errors: Counter[str]
) -> Sample:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            ok = 200 <= resp.status < 300
            if not ok:
                errors[f"http_{resp.status}"] += 1
    except Exception as exc:  # every failure is a data point, not a crash
        ok = False
        errors[f"{type(exc).__name__}({str(exc)[:60]})" if str(exc) else type(exc).__name__] += 1
    return Sample(latency_s=time.perf_counter() - due, lag_s=started - due, ok=ok)


async def run(
    url: str, body: bytes, key: str | None, rate: float, seconds: float, timeout_s: float, on_time_ms: float
) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    total = int(rate * seconds)
    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    tasks: list[asyncio.Task[Sample]] = []
    cpu0 = time.process_time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.perf_counter() + 0.05
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(session, url, body, headers, due, errors)))
        sent_for = time.perf_counter() - t0
        samples = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    ok = [s.latency_s * 1000 for s in samples if s.ok]
    return {
        "sent": total,
        "ok": len(ok),
        "errors": total - len(ok),
        "error_detail": ", ".join(f"{k}={v}" for k, v in errors.most_common()),
        "offered_rps": total / sent_for if sent_for else 0.0,
        "wall_s": wall,
        "p50_ms": _pct(ok, 50),
        "p90_ms": _pct(ok, 90),
        "p99_ms": _pct(ok, 99),
        "max_ms": max(ok, default=0.0),
        "on_time": sum(1 for v in ok if v <= on_time_ms),
        "lag_p99_ms": _pct([s.lag_s * 1000 for s in samples], 99),
        "loadgen_cpu_pct": 100 * cpu / wall if wall else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="file with the JSON request body")
    parser.add_argument("--key", default="")
    parser.add_argument("--rate", type=float, required=True, help="requests per second offered")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--on-time-ms", type=float, default=1e12, help="also count answers within this latency")
    args = parser.parse_args(argv)
    with open(args.body, "rb") as f:
        body = f.read()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    result = runner(run(args.url, body, args.key or None, args.rate, args.seconds, args.timeout, args.on_time_ms))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
