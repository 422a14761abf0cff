"""Client CPU per `complete()` (or `stream()`) call of the SDK adapters, against the local fake upstream.

    .venv/bin/python -m bench.adapter_cpu --n 2000 --reps 5
    .venv/bin/python -m bench.adapter_cpu --stream --chunks 20 --n 1000 --reps 5
    .venv/bin/python -m bench.adapter_cpu --transports aiohttp,direct --n 2000 --reps 5

Starts `python -m tests.fakes.server` as a subprocess (0 ms latency) and, for each provider
(openai, anthropic) and concurrency (1 and --concurrency), runs --n `complete()` calls through
the real adapter on each of --transports (default: aiohttp), --reps times, interleaved so
drift hits both alike. With --stream the calls are `stream()`s read to the end, each answer
--chunks text chunks long. Reports the median CPU ms per call of this process (time.process_time:
the fake's CPU is in the other process) with every repetition's value, and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.transport_bench import REQUEST, make_adapter, run, stream_request  # noqa: E402
from providers_app.adapters.base import ProviderAdapter  # noqa: E402
from tests.fakes.process import FakeUpstreamProcess  # noqa: E402

PROVIDERS = ("openai", "anthropic")


def caller(adapter: ProviderAdapter, args: argparse.Namespace) -> Callable[[], Awaitable[object]]:
    """One measured call: a `complete()`, or a `stream()` read to its last chunk."""
    if not args.stream:
        return lambda: adapter.complete(REQUEST)
    request = stream_request(args.chunks)

    async def call() -> None:
        async for _ in adapter.stream(request):
            pass

    return call


async def bench(args: argparse.Namespace, fake: FakeUpstreamProcess) -> dict[tuple[str, str, int], list[float]]:
    results: dict[tuple[str, str, int], list[float]] = {}
    adapters = {(p, t): make_adapter(p, t, fake) for p in PROVIDERS for t in args.transports.split(",")}
    for concurrency in (1, args.concurrency):
        for adapter in adapters.values():
            await run(caller(adapter, args), min(300, args.n), concurrency)  # warm-up: pools, imports, caches
        for _ in range(args.reps):
            for (provider, transport), adapter in adapters.items():
                cpu_ms, _ = await run(caller(adapter, args), args.n, concurrency)
                results.setdefault((provider, transport, concurrency), []).append(cpu_ms)
    for adapter in adapters.values():
        await adapter.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="calls per repetition")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true", help="measure stream() instead of complete()")
    parser.add_argument("--chunks", type=int, default=20, help="text chunks per streamed answer (--stream)")
    parser.add_argument("--transports", default="aiohttp", help="comma-separated: aiohttp, httpx, direct")
    args = parser.parse_args()
    with FakeUpstreamProcess(chunks=args.chunks) as fake:
        runner = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run  # what uvicorn runs the gateway on
        results = runner(bench(args, fake))
    call = "stream" if args.stream else "complete"
    print(f"{call} calls, n={args.n}, reps={args.reps}" + (f", {args.chunks} chunks" if args.stream else ""))
    print("| provider | transport | in flight | client CPU ms/call (median) | runs |")
    print("|---|---|---|---|---|")
    for (provider, transport, concurrency), values in results.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"| {provider} | {transport} | {concurrency} | {statistics.median(values):.3f} | {runs} |")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the client process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
