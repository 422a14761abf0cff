"""Where the idle RSS of `manage.py serve` goes: RSS by top-level package imported at start.

    .venv/bin/python -m bench.rss_imports              # the serve start-up path
    .venv/bin/python -m bench.rss_imports --sdk openai  # plus one provider adapter (and its SDK)
    .venv/bin/python -m bench.rss_imports --isolated celery drf_spectacular grpc
    .venv/bin/python -m bench.rss_imports --lock-only   # as in the image (bench/lockonly.py)

Default mode: in a fresh interpreter (production settings, SQLite), repeat the imports that
`manage.py serve` does before it serves (settings, django.setup(), the serve command,
aiproxy.asgi, the gRPC server and the services `serve` imports), and attribute each RSS
increase to the top-level package whose first import caused it. "self" is what importing the package's modules
own import added (its modules, shared libraries, objects built at import time) minus the
other top-level packages it imported for the first time, which are listed on their own rows;
"incl." includes them. RSS grows in pages and malloc keeps freed memory, so rows under
~0.3 MB are noise; the total is exact (VmRSS before and after).

--isolated: for each named module, a fresh interpreter imports only that module (after
django.setup() when the name is a Django app or needs settings) and reports the RSS it added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.lockonly import lock_only_env

REPO = Path(__file__).resolve().parents[1]

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "aiproxy.settings",
    "DEBUG": "0",
    "SECRET_KEY": "x" * 48,
    "FIELD_ENCRYPTION_KEY": "y" * 48,
    "ALLOWED_HOSTS": "127.0.0.1",
    "DATABASE_URL": "",
    "REDIS_URL": "",
    "LOG_LEVEL": "WARNING",
}

# Run in the child: installs the attribution hook, then does what `serve` does at start.
CHILD = r"""
import importlib._bootstrap as _bootstrap, json, os, sys

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

incl, self_kb, parents, stack = {}, {}, {}, []
_orig = _bootstrap._find_and_load

def _find_and_load(name, import_):
    top = name.partition(".")[0]
    if stack and stack[-1][0] == top:
        return _orig(name, import_)
    outermost = all(frame[0] != top for frame in stack)
    parents.setdefault(top, stack[-1][0] if stack else None)
    stack.append([top, rss_kb(), 0])
    try:
        return _orig(name, import_)
    finally:
        _, start, children = stack.pop()
        grown = rss_kb() - start
        self_kb[top] = self_kb.get(top, 0) + grown - children
        if outermost:
            incl[top] = incl.get(top, 0) + grown
        if stack:
            stack[-1][2] += grown

_bootstrap._find_and_load = _find_and_load
steps = []
def step(label):
    steps.append((label, rss_kb()))

step("interpreter")
__STEPS__
out = {"incl": incl, "self": self_kb, "parents": parents, "steps": steps, "modules": len(sys.modules)}
print("@@" + json.dumps(out))
"""

SERVE_STEPS = """
import django
from django.conf import settings
settings.INSTALLED_APPS
step("settings (aiproxy package)")
django.setup()
step("django.setup()")
from completions_app.management.commands import serve  # noqa
import uvloop  # noqa
step("serve command + runtime")
import aiproxy.asgi  # noqa
step("aiproxy.asgi")
from completions_app.grpc.server import grpc_server_create  # noqa
from completions_app.services.catalog import catalog_get  # noqa
from completions_app.services.recorder import records_flush  # noqa
from completions_app.services.gateway_state import gateway_state_close  # noqa
import prometheus_client  # noqa
step("gRPC server + services")
from aiproxy.runtime import http_config
http_config(30).load()
step("uvicorn config loaded")
"""

SDK_STEP = """
from providers_app.adapters.registry import adapter_create
adapter_create(kind={kind!r}, base_url="http://127.0.0.1:9", api_key="k", timeout_s=5)
step("adapter {kind}")
"""

ISOLATED = r"""
import os, sys, json
def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
name, setup = sys.argv[1], sys.argv[2] == "1"
if setup:
    import django
    django.setup()
before, mods = rss_kb(), len(sys.modules)
import importlib
importlib.import_module(name)
print("@@" + json.dumps({"before": before, "after": rss_kb(), "modules": len(sys.modules) - mods}))
"""


EXTRA_ENV: dict[str, str] = {}


def run_child(code: str, *args: str) -> dict:
    env = {**os.environ, **PROD_ENV, "PYTHONPATH": str(REPO), **EXTRA_ENV}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or "@@" not in proc.stdout:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output")
    return json.loads(proc.stdout.split("@@", 1)[1])


def serve_breakdown(sdks: list[str], min_mb: float) -> None:
    steps = SERVE_STEPS + "".join(SDK_STEP.format(kind=k) for k in sdks)
    r = run_child(CHILD.replace("__STEPS__", steps))
    print("| step | RSS MB | +MB |\n|---|---|---|")
    prev = None
    for label, kb in r["steps"]:
        print(f"| {label} | {kb / 1024:.1f} | {'' if prev is None else f'{(kb - prev) / 1024:+.1f}'} |")
        prev = kb
    print(f"\n{r['modules']} modules loaded.\n")
    print("| package (first imported by) | self MB | incl. MB |\n|---|---|---|")
    rows = sorted(r["self"].items(), key=lambda kv: -kv[1])
    small = 0
    for top, kb in rows:
        if kb / 1024 < min_mb:
            small += kb
            continue
        parent = r["parents"][top] or "-"
        print(f"| {top} ({parent}) | {kb / 1024:.1f} | {r['incl'][top] / 1024:.1f} |")
    print(f"| (others, each < {min_mb} MB) | {small / 1024:.1f} | |")


def isolated(names: list[str]) -> None:
    print("| module | RSS before MB | +MB | modules added |\n|---|---|---|---|")
    for name in names:
        needs_setup = name.split(".")[0] in ("django", "rest_framework", "drf_spectacular", "adrf") or "_app" in name
        try:
            r = run_child(ISOLATED, name, "1" if needs_setup else "0")
        except RuntimeError as exc:
            print(f"| {name} | | failed: {exc} | |")
            continue
        print(f"| {name} | {r['before'] / 1024:.1f} | {(r['after'] - r['before']) / 1024:+.1f} | {r['modules']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdk", action="append", default=[], choices=["openai", "anthropic", "ollama"])
    parser.add_argument("--isolated", nargs="+", metavar="MODULE")
    parser.add_argument("--min-mb", type=float, default=0.3, help="fold packages below this into one row")
    parser.add_argument("--lock-only", action="store_true", help="only requirements.lock packages importable")
    args = parser.parse_args()
    if args.lock_only:
        env = lock_only_env()
        EXTRA_ENV.update(env, PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(REPO)]))
    if args.isolated:
        isolated(args.isolated)
    else:
        serve_breakdown(args.sdk, args.min_mb)


if __name__ == "__main__":
    main()
