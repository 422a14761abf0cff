"""Peak RSS of `manage.py serve` by configured provider kinds: openai only vs all three.

    .venv/bin/python -m bench.rss_kinds --requests 100 --reps 2
    .venv/bin/python -m bench.rss_kinds --sets all --inflight 512 --load-seconds 15
    .venv/bin/python -m bench.rss_kinds --sets openai --rate 500 --upstream-delay-ms 1500 --load-seconds 30
    .venv/bin/python -m bench.rss_kinds --env MALLOC_ARENA_MAX=2   # compare an allocator setting
    .venv/bin/python -m bench.rss_kinds --lock-only                # as in the image (bench/lockonly.py)

For each provider set, a fresh gateway (one worker, DEBUG=0, SQLite) on the fake upstream:
RSS and peak RSS (VmHWM) when idle (after /v1/health answered and a pause), then after
--requests sequential non-streamed requests to each model of that set, then (with
--inflight N) after N connections in flight for --load-seconds (wrk, closed loop, on the
openai-kind model; the fake answers after --upstream-delay-ms, 200 ms like bench case
c512_200ms), or (with --rate R) after R requests per second offered for --load-seconds
(bench/openloop.py; case rate500_1500ms is --rate 500 --upstream-delay-ms 1500).
Not pinned: RSS does not depend on which core runs the process; the load phase's RSS does
depend on how many requests pile up in the gateway, which moves with the machine's load.
--env KEY=VALUE (repeatable) sets a variable for the gateway process only. --lock-only
runs the gateway as if only requirements.lock were installed (bench/lockonly.py): the venv's
test-only packages (requests, pygments, wsproto, rich, trio, ...) are otherwise imported by
libraries that find them, which the Docker image does not have.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.cases import CASES_BY_NAME
from bench.loadgen import run_openloop, run_wrk, wrk_available
from bench.lockonly import lock_only_env
from bench.procs import CLIENT_KEY, BenchGateway, make_template
from tests.fakes.behaviour import Behaviour
from tests.fakes.process import FakeUpstreamProcess

PROVIDER_SETS = {"openai": ("openai",), "all": ("openai", "anthropic", "ollama")}


def config_for(config: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, Any]:
    providers = [p for p in config["providers"] if p["kind"] in kinds]
    names = {p["name"] for p in providers}
    models = [dict(m) for m in config["models"] if m["provider"] in names]
    for model in models:  # no fallback to a provider that is not configured
        model["fallbacks"] = [f for f in model.get("fallbacks", []) if f in {m["name"] for m in models}]
    return {**config, "providers": providers, "models": models}


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
            out[key] = int(value.split()[0]) / (1 if key == "Threads" else 1024)
    return out


def ask(url: str, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "the quick brown fox"}], "max_tokens": 16}
    req = urllib.request.Request(  # noqa: S310 - the local gateway
        f"{url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        resp.read()


def measure(
    kinds: tuple[str, ...],
    fake: FakeUpstreamProcess,
    template: Path,
    workdir: Path,
    args: argparse.Namespace,
) -> dict:
    gateway = BenchGateway(workdir, fake.url, template=template, cores=None)
    gateway.config = config_for(gateway.config, kinds)
    gateway.env.update(args.env)
    gateway.prepare().start()
    out: dict[str, Any] = {"kinds": kinds}
    try:
        time.sleep(3)
        out["idle"] = memory_mb(gateway.pid)
        models = [m["name"] for m in gateway.config["models"]]
        out["models"] = models
        for _ in range(args.requests):
            for model in models:
                ask(gateway.url, model)
        time.sleep(1)
        out["served"] = memory_mb(gateway.pid)
        if args.inflight or args.rate:
            fake.script(Behaviour.ok(delay_s=args.upstream_delay_ms / 1000, times=-1))
            url, body = gateway.url + "/v1/chat/completions", CASES_BY_NAME["c1"].body()
            try:
                if args.rate:
                    load = run_openloop(
                        url, body, key=CLIENT_KEY, rate=args.rate, seconds=args.load_seconds,
                        workdir=workdir / "load", cores=None,
                    )  # fmt: skip
                else:
                    load = run_wrk(
                        url, body, key=CLIENT_KEY, connections=args.inflight, seconds=args.load_seconds,
                        workdir=workdir / "load", cores=None,
                    )  # fmt: skip
            finally:
                fake.reset()
            time.sleep(1)
            out["loaded"] = memory_mb(gateway.pid)
            out["load"] = {"requests": load.requests, "errors": load.errors, "p99_ms": load.p99_ms}
    finally:
        out["exit"] = gateway.stop()
    return out


def _cell(m: dict[str, float] | None) -> str:
    return "" if m is None else f"{m['VmRSS']:.0f} / {m['VmHWM']:.0f} (anon {m['RssAnon']:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per model")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--sets", default=",".join(PROVIDER_SETS), help="provider sets: openai, all")
    parser.add_argument("--inflight", type=int, default=0, help="connections in flight for the load phase (0: none)")
    parser.add_argument("--rate", type=float, default=0, help="open-loop requests per second for the load phase")
    parser.add_argument("--load-seconds", type=float, default=15)
    parser.add_argument("--upstream-delay-ms", type=float, default=200)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="gateway environment")
    parser.add_argument("--lock-only", action="store_true", help="gateway sees only requirements.lock packages")
    args = parser.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    shown_env = " ".join(f"{k}={v}" for k, v in args.env.items()) or "(default)"
    if args.lock_only:
        args.env.update(lock_only_env())
        shown_env += ", requirements.lock packages only"
    if args.inflight and args.rate:
        parser.error("--inflight and --rate are two kinds of load phase: choose one")
    if args.inflight and not wrk_available():
        parser.error("--inflight needs wrk (apt-get install -y wrk)")
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="rss-kinds-") as tmp, FakeUpstreamProcess() as fake:
        template = make_template(Path(tmp) / "template")
        print(f"gateway env: {shown_env}; RSS / peak (VmHWM) MB, anonymous RSS in brackets\n")
        loading = args.inflight or args.rate
        what = f"{args.rate:.0f} req/s" if args.rate else f"{args.inflight} in flight"
        load_col = f" | after {what} ({args.load_seconds:.0f} s, {args.upstream_delay_ms:.0f} ms upstream) | load"
        load_col = load_col if loading else ""
        print(f"| providers | run | idle | after requests{load_col} |")
        print("|---|---|---|---|" + ("---|---|" if loading else ""))
        for rep in range(args.reps):
            for name in sets:
                r = measure(PROVIDER_SETS[name], fake, template, Path(tmp) / f"{name}-{rep}", args)
                row = f"| {name} ({', '.join(r['models'])}) | {rep + 1} | {_cell(r['idle'])} | {_cell(r['served'])}"
                if loading:
                    load = r["load"]
                    row += (
                        f" | {_cell(r['loaded'])} | {load['requests']} answered, {load['errors']} errors, "
                        f"p99 {load['p99_ms']:.0f} ms"
                    )
                print(row + " |", flush=True)


if __name__ == "__main__":
    main()
