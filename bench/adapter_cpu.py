"""Client CPU per `complete()` call of the SDK adapters, against the local fake upstream.

    .venv/bin/python -m bench.adapter_cpu --n 2000 --reps 5

Starts `python -m tests.fakes.server` as a subprocess (0 ms latency) and, for each provider
(openai, anthropic) and concurrency (1 and --concurrency), runs --n `complete()` calls through
the real adapter on its default (aiohttp) transport, --reps times, providers interleaved so
drift hits both alike. Reports the median CPU ms per call of this process (time.process_time:
the fake's CPU is in the other process) with every repetition's value, and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.transport_bench import REQUEST, make_adapter, run  # noqa: E402
from tests.fakes.process import FakeUpstreamProcess  # noqa: E402

PROVIDERS = ("openai", "anthropic")


async def bench(args: argparse.Namespace, fake: FakeUpstreamProcess) -> dict[tuple[str, int], list[float]]:
    results: dict[tuple[str, int], list[float]] = {}
    adapters = {p: make_adapter(p, "aiohttp", fake) for p in PROVIDERS}
    for concurrency in (1, args.concurrency):
        for adapter in adapters.values():

            async def call(adapter=adapter) -> None:  # noqa: ANN001
                await adapter.complete(REQUEST)

            await run(call, min(300, args.n), concurrency)  # warm-up: pools, imports, caches
        for _ in range(args.reps):
            for provider, adapter in adapters.items():

                async def call(adapter=adapter) -> None:  # noqa: ANN001
                    await adapter.complete(REQUEST)

                cpu_ms, _ = await run(call, args.n, concurrency)
                results.setdefault((provider, concurrency), []).append(cpu_ms)
    for adapter in adapters.values():
        await adapter.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="calls per repetition")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with FakeUpstreamProcess() as fake:
        runner = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run  # what uvicorn runs the gateway on
        results = runner(bench(args, fake))
    print("| provider | in flight | client CPU ms/call (median) | runs |")
    print("|---|---|---|---|")
    for (provider, concurrency), values in results.items():
        runs = ", ".join(f"{v:.3f}" for v in values)
        print(f"| {provider} | {concurrency} | {statistics.median(values):.3f} | {runs} |")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the client process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
