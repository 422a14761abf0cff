"""aiohttp vs httpx transport of the SDK adapters, measured against the local fake upstream.

    .venv/bin/python -m bench.transport_bench --n 2000 --concurrency 64

Starts `python -m tests.fakes.server` as a subprocess (0 ms latency), then for each
provider (anthropic, openai), call type (complete, stream) and mode (sequential:
one call at a time; concurrent: --concurrency in flight) runs --n calls through the
real adapter on each transport, alternating transports so drift hits both alike
(`--stream`: stream calls only; each answer has --chunks text chunks).
Reports client CPU ms per call (time.process_time of this process only: the fake's
CPU is in the other process) and wall-clock calls per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from providers_app.adapters.anthropic import AnthropicAdapter  # noqa: E402
from providers_app.adapters.base import ProviderAdapter  # noqa: E402
from providers_app.adapters.openai import OpenAIAdapter  # noqa: E402
from providers_app.adapters.types import ChatRequest, Message  # noqa: E402
from tests.fakes.process import FakeUpstreamProcess  # noqa: E402

REQUEST = ChatRequest(
    model="fake-small",
    messages=(Message("system", "Be brief."), Message("user", "the quick brown fox jumps over the lazy dog")),
    max_tokens=64,
)


def stream_request(chunks: int) -> ChatRequest:
    """A request whose answer can fill `chunks` text chunks: the fake echoes one word per chunk at most."""
    words = " ".join(f"w{i}" for i in range(chunks))
    return ChatRequest(model="fake-small", messages=(Message("user", words),), max_tokens=chunks)


def make_adapter(provider: str, transport: str, fake: FakeUpstreamProcess) -> ProviderAdapter:
    if provider == "anthropic":
        return AnthropicAdapter(base_url=fake.anthropic_base_url, api_key="bench", timeout_s=30, transport=transport)
    return OpenAIAdapter(base_url=fake.openai_base_url, api_key="bench", timeout_s=30, transport=transport)


async def run(call: Callable[[], Awaitable[object]], n: int, concurrency: int) -> tuple[float, float]:
    """(CPU ms per call, calls per second) for n calls with `concurrency` in flight."""
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            await call()

    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu * 1000 / n, n / wall


async def bench(args: argparse.Namespace, fake: FakeUpstreamProcess) -> list[tuple[str, ...]]:
    rows = []
    kinds = ("stream",) if args.stream else ("complete", "stream")
    streamed = stream_request(args.chunks)
    for provider in ("anthropic", "openai"):
        for kind in kinds:
            for mode, concurrency in (("sequential", 1), ("concurrent", args.concurrency)):
                for transport in ("aiohttp", "httpx"):
                    adapter = make_adapter(provider, transport, fake)

                    async def call(adapter: ProviderAdapter = adapter, kind: str = kind) -> None:
                        if kind == "complete":
                            await adapter.complete(REQUEST)
                        else:
                            async for _ in adapter.stream(streamed):
                                pass

                    await run(call, min(200, args.n), concurrency)  # warm-up: pools, imports, caches
                    cpu_ms, rps = await run(call, args.n, concurrency)
                    await adapter.aclose()
                    rows.append((provider, kind, mode, transport, f"{cpu_ms:.2f}", f"{rps:.0f}"))
                    print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight in the concurrent mode")
    parser.add_argument("--chunks", type=int, default=8, help="text chunks per streamed answer")
    parser.add_argument("--stream", action="store_true", help="measure stream() calls only")
    parser.add_argument("--no-uvloop", action="store_true", help="stdlib event loop in the client")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, n={args.n}, concurrency={args.concurrency}")
    print("provider | call | mode | transport | client CPU ms/call | calls/s")
    with FakeUpstreamProcess(chunks=args.chunks) as fake:
        runner: Callable[..., object] = asyncio.run
        if not args.no_uvloop:
            with contextlib.suppress(ImportError):
                import uvloop

                runner = uvloop.run  # what uvicorn runs the gateway on
        runner(bench(args, fake))


if __name__ == "__main__":
    main()
