"""Peak RSS of `manage.py serve` by configured provider kinds: openai only vs all three.

    .venv/bin/python -m bench.rss_kinds --requests 200

For each provider set, a fresh gateway (one worker, DEBUG=0, SQLite) on the fake upstream:
RSS and peak RSS (VmHWM) when idle (after /v1/health answered and a pause), then after
--requests sequential non-streamed requests to each model of that set. Not pinned: RSS does
not depend on which core runs the process.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.procs import CLIENT_KEY, BenchGateway, make_template
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
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
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


def measure(kinds: tuple[str, ...], fake: FakeUpstreamProcess, template: Path, workdir: Path, n: int) -> dict:
    gateway = BenchGateway(workdir, fake.url, template=template, cores=None)
    gateway.config = config_for(gateway.config, kinds)
    gateway.prepare().start()
    try:
        time.sleep(3)
        idle = memory_mb(gateway.pid)
        models = [m["name"] for m in gateway.config["models"]]
        for _ in range(n):
            for model in models:
                ask(gateway.url, model)
        time.sleep(1)
        served = memory_mb(gateway.pid)
    finally:
        gateway.stop()
    return {"kinds": kinds, "models": models, "idle": idle, "served": served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per model")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rss-kinds-") as tmp, FakeUpstreamProcess() as fake:
        template = make_template(Path(tmp) / "template")
        print("| providers | run | idle RSS / peak MB | after requests RSS / peak MB |")
        print("|---|---|---|---|")
        for rep in range(args.reps):
            for name, kinds in PROVIDER_SETS.items():
                r = measure(kinds, fake, template, Path(tmp) / f"{name}-{rep}", args.requests)
                idle, served = r["idle"], r["served"]
                print(
                    f"| {name} ({', '.join(r['models'])}) | {rep + 1} | {idle['VmRSS']:.0f} / {idle['VmHWM']:.0f} "
                    f"| {served['VmRSS']:.0f} / {served['VmHWM']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
