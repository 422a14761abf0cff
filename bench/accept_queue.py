"""The listen queue of `serve` under 512 connections: are new connections accepted?

    .venv/bin/python -m bench.accept_queue [--seconds 12] [--connections 512]

Starts the fake upstream (200 ms) and a gateway (one worker, pinned to core 0), runs wrk
with N connections, and samples once a second the listening socket's Recv-Q (connections
the kernel completed but the gateway has not accepted yet) and the established count.
With uvloop's own server the queue drained at ~7 connections/s at 512 in flight, which
made wrk's p99 grow with its window; aiproxy/acceptor.py keeps it at 0.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .cases import CASES_BY_NAME
from .loadgen import run_wrk
from .procs import CLIENT_KEY, GATEWAY_CORES, LOAD_CORES, BenchGateway, make_template, start_fake


def sample(port: str, seconds: int, out: list[tuple[str, int]]) -> None:
    for _ in range(seconds):
        listen = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.split()  # noqa: S603, S607
        est = subprocess.run(  # noqa: S603
            ["ss", "-tnH", "state", "established", f"sport = :{port}"],
            capture_output=True,
            text=True,  # noqa: S607
        ).stdout.count("\n")
        out.append((listen[1] if len(listen) > 1 else "?", est))
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=512)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="accept-queue-"))
    fake = start_fake(latency_ms=200, chunks=20, cores=LOAD_CORES)
    gw = BenchGateway(work / "gw", fake.url, template=make_template(work / "tpl"), cores=GATEWAY_CORES)
    gw.prepare().start()
    samples: list[tuple[str, int]] = []
    try:
        sampler = threading.Thread(target=sample, args=(gw.url.rsplit(":", 1)[1], args.seconds + 2, samples))
        sampler.start()
        r = run_wrk(gw.url + "/v1/chat/completions", CASES_BY_NAME["c512_200ms"].body(), key=CLIENT_KEY,
                    connections=args.connections, seconds=args.seconds, workdir=work / "wrk", cores=LOAD_CORES)  # fmt: skip
        sampler.join()
    finally:
        gw.stop()
        fake.stop()
    print(f"wrk: {r.rps:.0f} req/s, p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms, max {r.max_ms:.0f} ms")
    print("listen queue (not yet accepted), established, once a second:", samples)


if __name__ == "__main__":
    main()
