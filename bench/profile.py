"""py-spy profile of the gateway under the 0 ms / concurrency 16 case, and a
summary of where its CPU goes (self and inclusive shares of samples)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.process import FakeUpstreamProcess

from .cases import CASES_BY_NAME, Plan
from .loadgen import run_wrk
from .measure import Window
from .procs import CLIENT_KEY, GATEWAY_CORES, LOAD_CORES, REPO, BenchGateway, pin, thread_cpu_seconds

# Self time by package: each sample goes to the deepest frame of a package below
# (stdlib frames roll up into their caller); whole threads are named by THREADS.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("completions_app/", "gateway code: completions_app"),
    ("providers_app/", "gateway code: providers_app (adapters)"),
    ("(openai.py)", "gateway code: providers_app (adapters)"),  # py-spy shortens adapters/openai.py
    ("aiproxy/asgi.py", "gateway code: aiproxy/asgi.py"),
    ("metrics_app/", "gateway code: metrics_app"),
    ("openai/", "openai SDK (param transform, request building, response models)"),
    ("pydantic", "pydantic (SDK response models)"),
    ("httpx", "httpx2 / httpx_aiohttp shim"),
    ("aiohttp/", "aiohttp client"),
    ("yarl/", "aiohttp client"),
    ("multidict/", "aiohttp client"),
    ("adrf/", "adrf / DRF"),
    ("rest_framework/", "adrf / DRF"),
    ("asgiref/", "asgiref (sync_to_async / async_to_sync)"),
    ("django/", "Django (ASGI handler, request, response)"),
    ("uvicorn/", "uvicorn (httptools protocol)"),
    ("prometheus_client/", "prometheus_client"),
)
THREADS: tuple[tuple[str, str], ...] = (
    ("RecordWriter._run", "audit record writer thread (prepared INSERT per batch, executemany)"),
    ("concurrent/futures/thread.py", "sync_to_async worker threads (thread hops)"),
    ("prometheus_client/exposition.py", "metrics exporter thread"),
    ("grpc", "gRPC threads"),
)
# Inclusive shares of the pieces a request passes through (a sample counts in every
# row with a matching frame on its stack; rows overlap where pieces nest).
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("openai SDK call, all of it (`AsyncCompletions.create`)", ("AsyncCompletions.create",)),
    ("· SDK request-params transform (`async_maybe_transform`, typing introspection)", ("async_maybe_transform",)),
    ("· SDK request building (`_build_request`, httpx2 Request/URL)", ("_build_request",)),
    ("· httpx2 → aiohttp shim (`httpx_aiohttp`, `AsyncClient.send`)", ("httpx_aiohttp", "AsyncClient.send")),
    ("· aiohttp `ClientSession._request`", ("ClientSession._request",)),
    ("· SDK response parsing (`_process_response`, pydantic models)", ("_process_response", "APIResponse.parse")),
    ("uvicorn HTTP protocol (httptools)", ("uvicorn/",)),
    ("JSON response rendering (view → JsonResponse)", ("JsonResponse", "_completion_body")),
    (
        "adrf/DRF request wrapping (`initialize_request`, `initial`, `finalize_response`)",
        ("AsyncAPIView.initial", "finalize_response", "initialize_request"),
    ),
    ("Django `send_response` (ASGI handler)", ("send_response",)),
    ("audit record writer thread (Python part)", ("RecordWriter",)),
    ("`outcome_finish`: record instance + metrics on the loop", ("outcome_finish",)),
    ("prometheus_client (all)", ("prometheus_client",)),
    ("request parsing (`json_body`, `openai_input`)", ("openai_input", "json_body")),
    ("client-key auth (`authenticate`)", ("authenticate (",)),
    ("`uuid4` (request ids, SDK idempotency key, record pk)", ("uuid4",)),
    ("`copy.deepcopy`", ("deepcopy",)),
    ("sync_to_async worker threads", ("concurrent/futures/thread.py",)),
)
ENTRY = (
    "manage.py",
    "Command.handle",
    "django/core/management",
    "asyncio/runners.py",
    "uvloop/__init__.py",
    "serve_main",
    "Thread.",
)
LOOP = "event loop itself (uvloop C code, asyncio glue)"


def classify(frames: list[str]) -> str:
    joined = ";".join(frames)
    for needle, name in THREADS:
        if needle in joined:
            return name
    for frame in reversed(frames):
        if any(e in frame for e in ENTRY) or "aiproxy/runtime.py" in frame:
            continue
        for needle, name in PACKAGES:
            if needle in frame:
                # Gateway code by module: "f (completions_app/services/x.py)" -> that path.
                return f"gateway code: {frame.rsplit('(', 1)[-1].rstrip(')')}" if name.startswith("gateway") else name
    return LOOP


@dataclass
class Profile:
    samples: int
    self_top: list[tuple[str, float]]  # (frame, % of samples)
    inclusive_top: list[tuple[str, float]]
    packages: list[tuple[str, float]]  # self time by package (see classify)
    components: list[tuple[str, float]] = field(default_factory=list)  # inclusive, see COMPONENTS
    cpu_ms_per_req: float | None = None  # while profiled (py-spy adds a little)
    threads: list[tuple[str, float]] = field(default_factory=list)  # (thread, % of the gateway's CPU), from /proc
    files: list[str] = field(default_factory=list)
    case: str = "c16: 0 ms upstream, concurrency 16"  # the profiled case: name and title


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def py_spy_version() -> str:
    exe = py_spy()
    if exe is None:
        return "not installed"
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603


def _thread_names(exe: str, pid: int) -> dict[int, str]:
    """OS thread id -> Python thread name, from `py-spy dump` ("Thread 123 (idle): "name")."""
    out = subprocess.run([exe, "dump", "--pid", str(pid)], capture_output=True, text=True, check=False).stdout  # noqa: S603
    return {int(m[1]): m[2] for m in re.finditer(r'^Thread (\d+) \([^)]*\): "([^"]*)"', out, re.M)}


def _record(exe: str, pid: int, seconds: float, out: Path, fmt: str) -> None:
    cmd = [*pin(LOAD_CORES), exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    cmd += ["--gil", "--format", fmt, "--output", str(out)]
    if fmt == "raw":
        cmd.append("--nolineno")
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60)  # noqa: S603


def profile_gateway(
    fake: FakeUpstreamProcess, plan: Plan, workdir: Path, template: Path, case_name: str = "c16"
) -> Profile | None:
    exe = py_spy()
    if exe is None or fake.proc is None:
        return None
    case = CASES_BY_NAME[case_name]
    raw, svg = workdir / "profile.txt", workdir / "profile.svg"
    svg_s = max(5.0, plan.profile_s / 2)
    gw = BenchGateway(workdir / "gw", fake.url, template=template, cores=GATEWAY_CORES).prepare().start()
    try:
        wrk_args = {"key": CLIENT_KEY, "connections": case.concurrency, "cores": LOAD_CORES}
        run_wrk(gw.url + case.path, case.body(), seconds=plan.warmup_s, workdir=workdir / "warmup", **wrk_args)
        before = sum(gw.requests_metric().values())
        threads0 = thread_cpu_seconds(gw.pid)
        with ThreadPoolExecutor(1) as pool, Window(fake.proc.pid, gw.pid) as w:
            load = pool.submit(
                run_wrk,
                gw.url + case.path,
                case.body(),
                seconds=plan.profile_s + svg_s + 3,
                workdir=workdir,
                **wrk_args,
            )
            time.sleep(1)
            _record(exe, gw.pid, plan.profile_s, raw, "raw")
            _record(exe, gw.pid, svg_s, svg, "flamegraph")
            load.result()
            time.sleep(0.5)
        served = sum(gw.requests_metric().values()) - before
        threads = {t: c - threads0.get(t, 0.0) for t, c in thread_cpu_seconds(gw.pid).items()}
        names = _thread_names(exe, gw.pid)
    finally:
        gw.stop()
    prof = summarize(raw)
    prof.cpu_ms_per_req = 1000 * w.gw / served if served else None
    prof.files = [str(f.relative_to(REPO)) for f in (raw, svg)]
    prof.case = f"{case.name}: {case.title}"
    total = sum(threads.values()) or 1.0
    shares: Counter[str] = Counter()
    for tid, cpu in threads.items():
        shares[names.get(tid, "native threads (gRPC core etc.)")] += 100 * cpu / total
    prof.threads = [(k, v) for k, v in shares.most_common() if v >= 0.5]
    return prof


def summarize(raw: Path, top: int = 15) -> Profile:
    """py-spy raw lines are "frame;frame;... count", a frame "function (path/module.py)"."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    pkg: Counter[str] = Counter()
    for frames, n in stacks:
        self_c[frames[-1]] += n
        pkg[classify(frames)] += n
        for f in set(frames):
            if not any(e in f for e in ENTRY):
                incl[f] += n

    def pct(c: Counter[str], n: int | None = None) -> list[tuple[str, float]]:
        return [(k, 100 * v / total) for k, v in c.most_common(n)]

    components = [
        (name, 100 * sum(n for frames, n in stacks if any(k in f for f in frames for k in needles)) / total)
        for name, needles in COMPONENTS
    ]
    return Profile(
        samples=total,
        self_top=pct(self_c, top),
        inclusive_top=pct(incl, top),
        packages=pct(pkg),
        components=components,
    )


if __name__ == "__main__":  # re-summarize a recorded profile: python -m bench.profile PROFILE.txt
    from .report import profile_section

    print("\n".join(profile_section(summarize(Path(sys.argv[1])), py_spy_version())))
