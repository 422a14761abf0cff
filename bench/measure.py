"""One measured run of one case, direct to the fake or through the gateway."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.process import FakeUpstreamProcess

from .cases import Case, Plan
from .loadgen import LoadResult, run_openloop, run_wrk
from .procs import (
    BENCH_REDIS_URL,
    CLIENT_KEY,
    GATEWAY_CORES,
    LOAD_CORES,
    BenchGateway,
    cpu_seconds,
    tree_cpu_seconds,
    tree_max_hwm_kb,
)

CHAT = "/v1/chat/completions"
ON_TIME_SLACK_MS = 1000.0  # open loop: an answer within upstream latency + 1 s counts as on time
PROBLEM = re.compile(r"Traceback|Exception|\bERROR\b|\bCRITICAL\b")


@dataclass
class Run:
    case: str
    path: str  # "direct" | "gateway"
    rep: int
    load: LoadResult
    fake_cpu_pct: float = 0.0  # of one core
    others_cpu_pct: float = 0.0  # machine CPU used by processes not ours, % of all cores: the noise
    # gateway runs only
    cpu_ms_per_req: float | None = None
    served: int = 0  # requests the gateway finished inside the measured window (its own counter)
    rss_peak_mb: float | None = None
    sent_total: int = 0  # requests the load generator started at this gateway (warm-up + window)
    completed_total: int = 0  # of which answered (the rest were abandoned in flight when wrk stopped)
    counted: int = 0  # ai_proxy_requests_total at the end of the run
    records: int = 0  # rows of `manage.py exportcosts` after a graceful stop
    upstream_calls: int = 0  # requests the fake saw during the gateway run
    limiter_calls: int | None = None  # admits + settles that reached Redis (cases with Redis)
    statuses: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    log_problems: int = 0
    log_samples: list[str] = field(default_factory=list)

    @property
    def limiter_calls_per_req(self) -> float | None:
        """Round trips the limiter made per request counted (warm-up included, as both are)."""
        return None if self.limiter_calls is None or not self.counted else self.limiter_calls / self.counted


def _machine_busy_s() -> tuple[float, float]:
    """(busy CPU seconds of all cores, ncpu) from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    busy = user + nice + system + irq + softirq + steal
    return busy / os.sysconf("SC_CLK_TCK"), float(os.cpu_count() or 1)


def _load(case: Case, url: str, seconds: float, workdir: Path, *, concurrency: int | None = None) -> LoadResult:
    if case.open_loop and concurrency is None:
        return run_openloop(
            url + case.path,
            case.body(),
            key=CLIENT_KEY,
            rate=case.rate,
            seconds=seconds,
            workdir=workdir,
            cores=LOAD_CORES,
            on_time_ms=case.latency_ms + ON_TIME_SLACK_MS,
        )
    conns = concurrency or case.concurrency
    return run_wrk(
        url + case.path,
        case.body(),
        key=CLIENT_KEY,
        connections=conns,
        seconds=seconds,
        workdir=workdir,
        cores=LOAD_CORES,
    )


class Window:
    """CPU accounting around one load run: ours (gateway, fake, load generator) and everyone else's."""

    def __init__(self, fake_pid: int, gateway_pid: int | None) -> None:
        self.fake_pid, self.gateway_pid = fake_pid, gateway_pid

    def __enter__(self) -> Window:
        self.t0 = time.monotonic()
        self.busy0, self.ncpu = _machine_busy_s()
        self.fake0 = cpu_seconds(self.fake_pid)
        self.gw0 = tree_cpu_seconds(self.gateway_pid) if self.gateway_pid else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.t0
        self.busy = _machine_busy_s()[0] - self.busy0
        self.fake = cpu_seconds(self.fake_pid) - self.fake0
        self.gw = (tree_cpu_seconds(self.gateway_pid) - self.gw0) if self.gateway_pid else 0.0

    def others_pct(self, load: LoadResult) -> float:
        ours = self.fake + self.gw + load.loadgen_cpu_pct / 100 * load.seconds
        return max(0.0, 100 * (self.busy - ours) / (self.wall * self.ncpu))


def measure_direct(case: Case, fake: FakeUpstreamProcess, plan: Plan, workdir: Path, rep: int) -> Run:
    assert fake.proc is not None
    fake.reset()
    seconds = plan.long_seconds if case.long else plan.seconds
    with Window(fake.proc.pid, None) as w:
        load = _load(case, fake.url, seconds, workdir)
    return Run(
        case=case.name,
        path="direct",
        rep=rep,
        load=load,
        fake_cpu_pct=100 * w.fake / w.wall,
        others_cpu_pct=w.others_pct(load),
    )


def measure_gateway(case: Case, fake: FakeUpstreamProcess, plan: Plan, workdir: Path, rep: int, template: Path) -> Run:
    assert fake.proc is not None
    seconds = plan.long_seconds if case.long else plan.seconds
    settle = 0.5 + 2 * case.latency_ms / 1000  # let requests in flight at the end finish
    cores = GATEWAY_CORES if case.workers == 1 else None  # more workers: the whole machine
    gw = BenchGateway(
        workdir,
        fake.url,
        template=template,
        cores=cores,
        workers=case.workers,
        redis_url=BENCH_REDIS_URL if case.redis else "",
        limited=case.limited,
    )
    gw.config["models"] += case.extra_models  # e.g. embed16's embedding model
    gw.prepare().start()
    try:
        fake.reset()
        warm = _load(case, gw.url, plan.warmup_s, workdir / "warmup", concurrency=case.concurrency or 16)
        time.sleep(settle)
        before = sum(gw.requests_metric().values())
        with Window(fake.proc.pid, gw.pid) as w:
            load = _load(case, gw.url, seconds, workdir)
            time.sleep(settle)
        by_status = gw.requests_metric()
        served = int(sum(by_status.values()) - before)
        run = Run(
            case=case.name,
            path="gateway",
            rep=rep,
            load=load,
            fake_cpu_pct=100 * w.fake / w.wall,
            others_cpu_pct=w.others_pct(load),
            cpu_ms_per_req=1000 * w.gw / served if served else None,
            served=served,
            rss_peak_mb=tree_max_hwm_kb(gw.pid) / 1024,
            sent_total=warm.sent + load.sent,
            completed_total=warm.requests + load.requests,
            counted=int(sum(by_status.values())),
            upstream_calls=fake.stats()["requests"],
            limiter_calls=gw.limiter_calls(),
        )
    finally:
        code = gw.stop()
    run.exit_code = code
    records = gw.records()
    run.records = len(records)
    run.statuses = dict(Counter(r["status"] for r in records))
    problems = [line for line in gw.log().splitlines() if PROBLEM.search(line)]
    run.log_problems = len(problems)
    run.log_samples = list(dict.fromkeys(p[:300] for p in problems))[:8]
    return run
