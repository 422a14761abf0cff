"""The request an SDK builds, captured without sending it: the URL and headers direct.py sends.

The adapter's SDK client is made on an httpx2 client whose transport only records the
request (the SDK's own `http_client` hook), and its `post()` is called once per (path,
stream). The SDK is given a placeholder key, which direct.py replaces with the real one:
one capture serves every key of a provider, and no key is handed to a helper process.

In a `serve` process (the runtime calls `use_helper_process()`) the capture runs in a
short-lived helper process, `python -m providers_app.adapters.capture`: the long-lived
process then never loads the SDK (openai ~25 MB, anthropic more: bench/MEMORY.md). Elsewhere
(tests, Celery, scripts) it runs in this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KEY_PLACEHOLDER = "aiproxy-capture-placeholder-key-0"
HELPER_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Spec:
    """What decides the request an adapter's SDK builds (besides the key)."""

    kind: str
    base_url: str | None
    timeout_s: float
    path: str
    stream: bool


@dataclass(frozen=True)
class Captured:
    url: str
    headers: tuple[tuple[str, str], ...]  # as the SDK set them, with KEY_PLACEHOLDER for the key


_state: dict[str, Any] = {"helper": False}
_done: dict[tuple[Spec, ...], list[Captured]] = {}
_running: dict[tuple[Spec, ...], asyncio.Future[list[Captured]]] = {}


def use_helper_process(on: bool = True) -> None:
    _state["helper"] = on


async def capture(specs: tuple[Spec, ...]) -> list[Captured]:
    """The requests of `specs`, once per process: later and concurrent callers share the result."""
    if (done := _done.get(specs)) is not None:
        return done
    future = _running.get(specs)
    if future is None:
        run = _in_helper(specs) if _state["helper"] else _in_process(specs)
        future = _running[specs] = asyncio.ensure_future(run)
        future.add_done_callback(lambda _: _running.pop(specs, None))
    # Shielded: a caller that goes away does not cancel the capture for the others.
    result = await asyncio.shield(future)
    _done[specs] = result
    return result


async def _in_process(specs: tuple[Spec, ...]) -> list[Captured]:
    import httpx2

    from .registry import ADAPTERS

    class Recorder(httpx2.AsyncBaseTransport):
        request: httpx2.Request | None = None

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            self.request = request
            return httpx2.Response(200, json={}, request=request)

    captured = []
    for spec in specs:
        adapter: Any = ADAPTERS[spec.kind](
            base_url=spec.base_url, api_key=KEY_PLACEHOLDER, timeout_s=spec.timeout_s, transport="aiohttp"
        )
        recorder = Recorder()
        # trust_env off: with a proxy in the environment httpx2 would route around the recorder.
        async with httpx2.AsyncClient(transport=recorder, trust_env=False) as http_client:
            client = adapter._make_client(http_client)
            await client.post(
                spec.path, body={}, cast_to=httpx2.Response, options=adapter.request_options, stream=spec.stream
            )
        assert recorder.request is not None  # noqa: S101 - post() sent exactly one request
        captured.append(Captured(str(recorder.request.url), tuple(recorder.request.headers.items())))
    return captured


async def _in_helper(specs: tuple[Spec, ...]) -> list[Captured]:
    # subprocess.run in a thread, not the loop's subprocess support: uvloop spawns with fork(),
    # which runs gRPC's fork handlers (and their log lines); CPython's subprocess uses vfork.
    payload = json.dumps([asdict(s) for s in specs]).encode()
    command = [sys.executable, "-m", __name__]
    try:
        done = await asyncio.to_thread(
            subprocess.run, command, cwd=ROOT, input=payload, capture_output=True, timeout=HELPER_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess(command, -9, b"", b"timed out")
    out, err = done.stdout, done.stderr
    if done.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        log.error(
            "building the %s request in a helper process failed (exit %s): %s", specs[0].kind, done.returncode, last[0]
        )
        raise RuntimeError(f"{specs[0].kind}: building the request failed")
    return [Captured(d["url"], tuple((k, v) for k, v in d["headers"])) for d in json.loads(out)]


def main() -> None:
    specs = tuple(Spec(**d) for d in json.load(sys.stdin))
    captured = asyncio.run(_in_process(specs))
    json.dump([{"url": c.url, "headers": c.headers} for c in captured], sys.stdout)


if __name__ == "__main__":
    main()
