"""Instructions per request: the gateway under valgrind's callgrind, one request at a time.

`make bench` measures CPU time per request under load, side by side with the direct path.
On a shared 2-vCPU machine that figure moves ±10 % from run to run (the other vCPU's load,
caches, clock), which hides a change of a few percent. Instructions executed do not depend on
any of that, so this is how two trees are compared for a small change on the request path:

    python -m bench.instructions --cases c16,stream16      # in each tree; compare the numbers

The gateway (`serve`, production settings, SQLite, the same config as `make bench`) runs under
callgrind; `warmup` requests are sent, the counters are zeroed, `requests` more are sent one
after another on one keep-alive connection, and the counters are dumped, per thread: the event
loop's count (the request path) repeats within ~0.5 %; all threads' (the record writer's SQLite
inserts too) within ~±15 %, as the batches split differently. Concurrency is 1, so this is the work of
one request with nothing shared between requests: not what a request costs at c16 (where one
event-loop turn serves several), but the same work in both trees.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .cases import CASES_BY_NAME, Case
from .procs import CLIENT_KEY, REPO, BenchGateway, make_template, start_fake

STARTUP_S = 600  # Django and the app loading under callgrind (~50× slower than native)


# What would otherwise run by the clock, not per request, so that the count is the requests':
# no catalog reload, records written in batches of exactly 100, the same hash seed.
QUIET = {
    "CATALOG_TTL_S": "36000",
    "RECORD_FLUSH_INTERVAL_S": "36000",
    "RECORD_BATCH_SIZE": "100",
    "PYTHONHASHSEED": "0",
}


class CallgrindGateway(BenchGateway):
    """`serve` under callgrind, unpinned (valgrind runs one thread at a time anyway)."""

    startup_s = STARTUP_S

    def prepare(self) -> CallgrindGateway:
        self.env.update(QUIET)
        super().prepare()
        return self

    def launch_prefix(self) -> list[str]:
        out = f"--callgrind-out-file={self.workdir}/callgrind.%p"
        return ["valgrind", "--tool=callgrind", out, "--dump-line=no", "--separate-threads=yes"]


def send(conn: http.client.HTTPConnection, case: Case, body: bytes) -> None:
    conn.request(
        "POST",
        getattr(case, "path", "/v1/chat/completions"),  # (older trees' cases have no path)
        body=body,
        headers={"Authorization": f"Bearer {CLIENT_KEY}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = response.read()  # a stream is read to its end
    if response.status != 200:
        raise RuntimeError(f"{case.name}: HTTP {response.status}: {data[:300]!r}")


def callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)  # noqa: S603,S607


def total_instructions(dump: Path) -> int:
    """The `summary:` (or `totals:`) line of a callgrind dump: instructions executed."""
    text = dump.read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(match.group(1))


@dataclass(frozen=True)
class Count:
    """Instructions per request: on the event-loop thread (the request path: parsing, the call,
    the answer, the record handed over), and in every thread (the record writer's batched
    SQLite inserts too, which vary by ~±15 % with how the batches happened to split)."""

    loop: int
    all_threads: int


def measure(case: Case, workdir: Path, *, warmup: int, requests: int) -> Count:
    """Instructions per request for `case`, through the gateway."""
    fake = start_fake(latency_ms=case.latency_ms, chunks=20, cores=None)
    try:
        template = make_template(workdir / "template")
        gw = CallgrindGateway(workdir / case.name, fake.url, template=template, cores=None)
        gw.prepare().start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", gw.http_port, timeout=120)
            body = case.body()
            for _ in range(warmup):
                send(conn, case, body)
            callgrind_control("--zero", str(gw.pid))
            for _ in range(requests):
                send(conn, case, body)
            before = set(gw.workdir.glob("callgrind.*"))
            callgrind_control("--dump", str(gw.pid))
            conn.close()
            dumps = sorted(set(gw.workdir.glob("callgrind.*")) - before)
            main = [d for d in dumps if d.name.endswith("-01")]  # thread 1: the event loop
            if len(main) != 1:
                raise RuntimeError(f"no single main-thread dump among {dumps}")
            return Count(
                loop=total_instructions(main[0]) // requests,
                all_threads=sum(total_instructions(d) for d in dumps) // requests,
            )
        finally:
            gw.stop(timeout=300)
    finally:
        fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="c16,stream16", help="case names (their request bodies)")
    parser.add_argument("--warmup", type=int, default=100, help="a multiple of RECORD_BATCH_SIZE (100)")
    parser.add_argument("--requests", type=int, default=500, help="a multiple of RECORD_BATCH_SIZE (100)")
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "instructions"))
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench.instructions needs valgrind (apt-get install valgrind)")
    workdir = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    results = {}
    for name in args.cases.split(","):
        count = measure(CASES_BY_NAME[name], workdir, warmup=args.warmup, requests=args.requests)
        results[name] = asdict(count)
        print(
            f"{name}: {count.loop:,} instructions per request on the event loop, {count.all_threads:,} in all "
            f"threads ({args.requests} requests after {args.warmup})"
        )
    (workdir / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
