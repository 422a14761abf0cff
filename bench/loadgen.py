"""The two load generators: wrk (Debian's 4.x) for closed-loop load (N
connections, each sends its next request as soon as the previous answer ends)
and bench/openloop.py for constant-rate load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import REPO, pin

LUA = Path(__file__).with_name("bench.lua")


@dataclass
class LoadResult:
    """What a load generator saw in one run (latencies in ms)."""

    requests: int  # answers received (any status)
    errors: int  # non-2xx/3xx statuses + socket errors + timeouts
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    sent: int  # requests started; sent - requests = abandoned in flight at the end
    loadgen_cpu_pct: float  # of one core: how busy the load generator itself was
    error_detail: str = ""
    offered_rps: float = 0.0  # open loop only
    lag_p99_ms: float = 0.0  # open loop only: send time behind schedule (generator keeping up?)
    on_time: int = 0  # open loop only: 2xx answers within on_time_ms of their scheduled send time

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    body: bytes,
    *,
    key: str | None,
    connections: int,
    seconds: float,
    workdir: Path,
    cores: str | None,
    timeout_s: float = 30.0,
) -> LoadResult:
    workdir.mkdir(parents=True, exist_ok=True)
    body_path = workdir / "body.json"
    body_path.write_bytes(body)
    threads = 1 if connections < 128 else 2
    cmd = [
        *pin(cores),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={int(timeout_s)}s",
        "-s",
        str(LUA),
        url,
    ]
    env = {**os.environ, "BENCH_BODY": str(body_path), "BENCH_KEY": key or ""}
    err_path = workdir / "wrk.stderr"
    with err_path.open("w") as err_file:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err_file, text=True)  # noqa: S603
        assert proc.stdout is not None
        out = proc.stdout.read()
        # wait4 rather than wait(): it hands back the child's own CPU usage.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
    err = err_path.read_text()
    data = _parse(out, err)
    lat = {k: data[k] / 1000 for k in ("p50_us", "p90_us", "p99_us", "lat_max_us")}
    kinds = ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
    errors = int(sum(data[k] for k in kinds))
    detail = ", ".join(f"{k[4:]}={int(data[k])}" for k in kinds if data[k])
    return LoadResult(
        requests=int(data["requests"]),
        errors=errors,
        seconds=data["duration_us"] / 1e6,
        p50_ms=lat["p50_us"],
        p90_ms=lat["p90_us"],
        p99_ms=lat["p99_us"],
        max_ms=lat["lat_max_us"],
        sent=int(data["sent"]),
        loadgen_cpu_pct=100 * (usage.ru_utime + usage.ru_stime) / max(data["duration_us"] / 1e6, 1e-9),
        error_detail=detail,
    )


def _parse(out: str, err: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.split(" ", 1)[1])
    raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")


def run_openloop(
    url: str,
    body: bytes,
    *,
    key: str | None,
    rate: float,
    seconds: float,
    workdir: Path,
    cores: str | None,
    timeout_s: float = 30.0,
    on_time_ms: float = 1e12,
) -> LoadResult:
    """bench/openloop.py in its own (pinned) process."""
    workdir.mkdir(parents=True, exist_ok=True)
    body_path = workdir / "body.json"
    body_path.write_bytes(body)
    cmd = [
        *pin(cores),
        sys.executable,
        "-m",
        "bench.openloop",
        "--url",
        url,
        "--body",
        str(body_path),
        "--key",
        key or "",
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--timeout",
        str(timeout_s),
        "--on-time-ms",
        str(on_time_ms),
    ]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=seconds + timeout_s + 60)  # noqa: S603
    data = _parse(done.stdout, done.stderr)
    return LoadResult(
        requests=int(data["ok"]) + int(data["errors"]),
        errors=int(data["errors"]),
        seconds=float(data["wall_s"]),
        p50_ms=float(data["p50_ms"]),
        p90_ms=float(data["p90_ms"]),
        p99_ms=float(data["p99_ms"]),
        max_ms=float(data["max_ms"]),
        sent=int(data["sent"]),
        loadgen_cpu_pct=float(data["loadgen_cpu_pct"]),
        error_detail=str(data["error_detail"]),
        offered_rps=float(data["offered_rps"]),
        lag_p99_ms=float(data["lag_p99_ms"]),
        on_time=int(data["on_time"]),
    )
