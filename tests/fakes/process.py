"""The fake upstream as a separate process, scripted over its HTTP control plane.

with FakeUpstreamProcess(latency_ms=0, chunks=3) as fake:
    fake.script(Behaviour.error(500, path="/v1/messages"))
    ... point the gateway at fake.url ...
    fake.requests()  # list of dicts: method, path, headers, json, raw
    fake.stats()     # {"requests", "disconnects", "streams_completed"}
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from .behaviour import Behaviour

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeControl:
    """HTTP client of a running fake's /_fake/* endpoints (stdlib only, sync)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(  # noqa: S310 - a local http URL we built ourselves
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def script(self, *behaviours: Behaviour) -> None:
        self._call("POST", "/_fake/script", [b.to_json() for b in behaviours])

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_fake/requests")

    def stats(self) -> dict[str, int]:
        return self._call("GET", "/_fake/stats")

    def reset(self) -> None:
        self._call("POST", "/_fake/reset", {})


class FakeUpstreamProcess(FakeControl):
    """`python -m tests.fakes.server` in a subprocess on an ephemeral port."""

    def __init__(
        self, *, latency_ms: float = 0, chunks: int = 3, chunk_delay_ms: float = 0, extra_args: tuple[str, ...] = ()
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "tests.fakes.server",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--chunks",
            str(chunks),
            "--chunk-delay-ms",
            str(chunk_delay_ms),
            *extra_args,
        ]
        self.proc: subprocess.Popen[str] | None = None
        super().__init__("http://127.0.0.1:0")

    def start(self) -> FakeUpstreamProcess:
        self.proc = subprocess.Popen(self.args, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints its port once it listens
        if not line.startswith("FAKE_UPSTREAM_LISTENING"):
            self.stop()
            raise RuntimeError(f"fake upstream did not start: {line!r}")
        self.port = int(line.strip().split("port=")[1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> FakeUpstreamProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def ollama_base_url(self) -> str:
        return self.url
