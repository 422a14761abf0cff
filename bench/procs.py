"""The processes under test: fake upstream and gateway, pinned to cores, and
what /proc says about them (CPU seconds, peak RSS)."""

from __future__ import annotations

import os
import resource
import secrets
import shutil
from pathlib import Path

from tests.e2e.gateway_process import CLIENT_KEY, REPO, GatewayProcess, fake_config
from tests.fakes.process import FakeUpstreamProcess

__all__ = [
    "CLIENT_KEY",
    "REPO",
    "BenchGateway",
    "cpu_seconds",
    "pin",
    "raise_fd_limit",
    "start_fake",
    "thread_cpu_seconds",
    "tree_cpu_seconds",
    "tree_max_hwm_kb",
    "vm_hwm_kb",
]

GATEWAY_CORES = "0"
LOAD_CORES = "1"  # load generator and fake upstream share the other core
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODEL = "gpt-4o-mini"  # served by the openai-kind provider "oa" in fake_config()
# The Redis database of the cases that use Redis: the gateway's alone, flushed before each gateway.
BENCH_REDIS_URL = os.environ.get("AIPROXY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
# The limited case's key: every kind of limit a miss checks, none ever reached in a run.
NEVER_REACHED = {"rpm": 10**9, "tpm": 2_000_000_000, "budget_usd_day": "1000000.00", "budget_usd_month": "1000000.00"}


def pin(cores: str | None) -> list[str]:
    """A `taskset` prefix, or nothing when pinning is off or impossible."""
    if not cores or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", cores]


def raise_fd_limit(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def tree_pids(pid: int) -> list[int]:
    """pid and all its descendants (`serve --workers N` runs N children under a supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of pid and its live descendants."""
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
    return total


def tree_max_hwm_kb(pid: int) -> int:
    """The largest VmHWM among pid and its descendants: the per-process peak."""
    best = 0
    for p in tree_pids(pid):
        try:
            best = max(best, vm_hwm_kb(p))
        except OSError:
            continue
    return best


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime per thread id (threads that exited meanwhile are not counted)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def start_fake(*, latency_ms: float, chunks: int, cores: str | None) -> FakeUpstreamProcess:
    fake = FakeUpstreamProcess(latency_ms=latency_ms, chunks=chunks)
    fake.args = [*pin(cores), *fake.args]
    return fake.start()


class BenchGateway(GatewayProcess):
    """`manage.py serve` (one worker unless told) in production mode, pinned, on a fresh SQLite DB.

    The DB starts as a copy of a migrated template, so each case costs one
    `loadconfig` instead of a full `migrate`."""

    def __init__(
        self,
        workdir: Path,
        fake_url: str,
        *,
        template: Path | None,
        cores: str | None,
        workers: int = 1,
        redis_url: str = "",
        limited: bool = False,
    ) -> None:
        workdir = workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        env = {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "FIELD_ENCRYPTION_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CATALOG_TTL_S": "5",
            "PROBE_INTERVAL_S": "0",  # nothing but the load reaches the fake
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": "",  # always SQLite here: one file per case
            "REDIS_URL": redis_url,
        }
        config = fake_config(fake_url)
        if limited:
            config["clients"][0]["limits"] = dict(NEVER_REACHED)
        super().__init__(workdir, config, env=env)
        self.redis_url = redis_url
        self.cores = cores
        self.template = template
        self.workers = workers

    def _setup_database(self) -> None:
        self.env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'gateway.sqlite3'}"

    def prepare(self) -> BenchGateway:
        if self.redis_url:
            import redis

            with redis.Redis.from_url(self.redis_url) as r:
                r.flushdb()
        db = self.workdir / "gateway.sqlite3"
        if self.template is not None and self.template.exists():
            shutil.copyfile(self.template, db)
            path = self.workdir / "config.yaml"
            import yaml

            path.write_text(yaml.safe_dump(self.config))
            self.manage("loadconfig", str(path))
        else:
            super().prepare()
        return self

    def launch_prefix(self) -> list[str]:
        return pin(self.cores)

    def start(self, *serve_args: str) -> BenchGateway:
        super().start("--workers", str(self.workers), *serve_args)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def limiter_calls(self) -> int | None:
        """Admits + settles that reached Redis so far, read from the limiter's own keys (the
        database is this gateway's alone): each is one EVALSHA, one round trip. Admits are the
        requests counted in the minute hashes; a settle leaves a lim:done:<id> marker."""
        if not self.redis_url:
            return None
        import redis

        with redis.Redis.from_url(self.redis_url, decode_responses=True) as r:
            admits = sum(int(r.hget(k, "r") or 0) for k in r.scan_iter("aiproxy:lim:*:m:*", count=1000))
            settles = sum(1 for _ in r.scan_iter("aiproxy:lim:done:*", count=1000))
        return admits + settles

    def requests_metric(self) -> dict[str, float]:
        """ai_proxy_requests_total summed by status, from the exporter."""
        out: dict[str, float] = {}
        for line in self.metrics().splitlines():
            if line.startswith("ai_proxy_requests_total{"):
                labels, value = line.rsplit(" ", 1)
                status = labels.split('status="', 1)[1].split('"', 1)[0]
                out[status] = out.get(status, 0.0) + float(value)
        return out


def make_template(workdir: Path) -> Path:
    """A migrated SQLite DB to copy for every case."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    gw = GatewayProcess(workdir, fake_config("http://127.0.0.1:9"), env={"DATABASE_URL": ""})
    gw.env["DATABASE_URL"] = f"sqlite:///{workdir / 'gateway.sqlite3'}"
    gw.manage("migrate", "--noinput", "-v", "0")
    return workdir / "gateway.sqlite3"
