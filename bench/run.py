"""`make bench` / `python -m bench.run [--quick]`: every case, direct vs through the gateway.

Per case and repetition: one run straight at the fake upstream, then one through a
fresh gateway (`manage.py serve`, one worker, fresh SQLite DB), warmed up, measured,
stopped gracefully, and its audit records counted with `manage.py exportcosts`.
The gateway is pinned to core 0; the load generator, the fake and py-spy to core 1.
Outputs: bench/out/<run>/ (report.md, results.json, logs, profile); a full run also
rewrites the generated part of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.process import FakeUpstreamProcess

from .cases import CASES, CASES_BY_NAME, FAKE_CHUNKS, Case, Plan
from .loadgen import wrk_available
from .measure import Run, measure_direct, measure_gateway
from .procs import GATEWAY_CORES, LOAD_CORES, REPO, make_template, pin, raise_fd_limit, start_fake
from .profile import profile_gateway, py_spy_version
from .report import fmt, render

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- BEGIN GENERATED (python -m bench.run) -->", "<!-- END GENERATED -->"


def _versions() -> str:
    from importlib.metadata import version

    names = ("django", "uvicorn", "uvloop", "httptools", "djangorestframework", "openai", "aiohttp")
    return ", ".join(f"{n} {version(n)}" for n in names)


def _machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0"
    )
    import os

    return f"{os.cpu_count()} × {cpu}, {int(mem) // 1024} MB RAM, Linux {platform.release()}, Python {platform.python_version()}"


def _code_version() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S607
        return done.stdout.strip()

    dirty = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
    return f"commit {git('rev-parse', '--short', 'HEAD')}" + (
        f" + {dirty} modified files (working tree)" if dirty else ""
    )


def _header(argv: list[str], plan: Plan, started: datetime, fd_limit: int) -> list[str]:
    pinned = bool(pin(GATEWAY_CORES))
    return [
        f"Run: {started:%Y-%m-%d %H:%M} UTC. Command: `{shlex.join(['python', '-m', 'bench.run', *argv])}` "
        "(`make bench` runs it without arguments; `make bench BENCH_ARGS=--quick` for the short version).",
        "",
        f"- Machine: {_machine()}; shared with other engineers' test runs, so numbers are noisy: each case ran "
        f"{plan.reps}× ({plan.long_reps}× for the 500 req/s case), medians reported, every run's value in brackets, "
        "and each case shows how much CPU other processes used meanwhile.",
        f"- Pinning: {'gateway on core ' + GATEWAY_CORES + '; load generator, fake upstream and py-spy on core ' + LOAD_CORES if pinned else 'none (taskset missing or 1 core)'} (`taskset`).",
        f"- Windows: {plan.seconds:g} s per run ({plan.long_seconds:g} s for the 500 req/s case) after a {plan.warmup_s:g} s warm-up; fd limit {fd_limit}.",
        "- Gateway: `manage.py serve` (one worker unless the case says 2, DEBUG=0, SQLite, in-process cache and "
        "breakers, no Redis), OpenAI-compatible `POST /v1/chat/completions` for a model of the openai-kind provider "
        "pointing at the fake.",
        "- Fake upstream: `python -m tests.fakes.server` (aiohttp + uvloop), OpenAI wire format; one process per latency.",
        "- Load: wrk 4.1 (Debian) with bench/bench.lua for closed loop; bench/openloop.py (aiohttp, constant rate, "
        "latency from each request's scheduled time) for the 500 req/s case.",
        f"- Code: {_code_version()}. Versions: {_versions()}.",
        "",
    ]


def _progress(run: Run) -> None:
    r = run.load
    extra = ""
    if run.path == "gateway":
        extra = f" cpu={fmt(run.cpu_ms_per_req, 2)}ms/req rss={fmt(run.rss_peak_mb, 0)}MB records={run.records}/{run.counted} logproblems={run.log_problems}"
    print(
        f"  {run.case:16} {run.path:8} rep{run.rep} {r.rps:8.0f} req/s p50={r.p50_ms:8.2f} p99={r.p99_ms:8.2f} "
        f"err={r.errors} lg={r.loadgen_cpu_pct:.0f}% others={run.others_cpu_pct:.0f}%{extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per case (15 s for 500 req/s), one run each")
    parser.add_argument("--cases", default=",".join(c.name for c in CASES), help="comma-separated subset")
    parser.add_argument("--reps", type=int, help="runs per case (default: 1 quick, 3 full)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--profile-case", default="c16", help="the case the profile loads the gateway with")
    parser.add_argument(
        "--no-results", action="store_true", help="keep docs/benchmarks.md as it is (quick never writes it)"
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan.full()
    if args.reps:
        plan = Plan(plan.seconds, plan.long_seconds, plan.warmup_s, args.reps, args.reps, plan.profile_s)
    cases: list[Case] = [CASES_BY_NAME[n] for n in args.cases.split(",") if n]
    if not wrk_available():
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    fd_limit = raise_fd_limit()
    started = datetime.now(UTC)
    out = BENCH / "out" / f"run-{started:%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"bench: {len(cases)} cases, outputs in {out.relative_to(REPO)}", flush=True)
    template = make_template(out / "template")
    fakes: dict[float, FakeUpstreamProcess] = {}
    runs: list[Run] = []
    profile = None
    t0 = time.monotonic()
    try:
        for case in cases:
            fake = fakes.get(case.latency_ms) or start_fake(
                latency_ms=case.latency_ms, chunks=FAKE_CHUNKS, cores=LOAD_CORES
            )
            fakes[case.latency_ms] = fake
            print(f"{case.name}: {case.title}", flush=True)
            for rep in range(1, (plan.long_reps if case.long else plan.reps) + 1):
                for run in (
                    measure_direct(case, fake, plan, out / case.name / f"direct-{rep}", rep),
                    measure_gateway(case, fake, plan, out / case.name / f"gateway-{rep}", rep, template),
                ):
                    runs.append(run)
                    _progress(run)
        if not args.no_profile:
            print(f"profile: py-spy on the gateway, {args.profile_case}", flush=True)
            fake = fakes.get(0.0) or start_fake(latency_ms=0, chunks=FAKE_CHUNKS, cores=LOAD_CORES)
            fakes[0.0] = fake
            profile = profile_gateway(fake, plan, out / "profile", template, args.profile_case)
    finally:
        for fake in fakes.values():
            fake.stop()
    (out / "results.json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
    header = [
        "## Last full run (generated by `python -m bench.run`; do not edit by hand)",
        "",
        *_header(argv, plan, started, fd_limit),
    ]
    report = render(runs, profile, header=header, py_spy_version=py_spy_version())
    (out / "report.md").write_text(report)
    if not args.quick and not args.no_results:
        _update_results(report)
    print(report)
    print(
        f"bench: done in {time.monotonic() - t0:.0f} s; report in {(out / 'report.md').relative_to(REPO)}", flush=True
    )
    return 0


def _update_results(report: str) -> None:
    """Replace the generated block of docs/benchmarks.md; the hand-written text around it stays."""
    block = f"{BEGIN}\n{report}{END}"
    text = RESULTS.read_text() if RESULTS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
