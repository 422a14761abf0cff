"""The real gateway as a subprocess (`manage.py serve`) on free ports, with its
own database (a SQLite file, or a fresh PostgreSQL database when DATABASE_URL
points at PostgreSQL), configured with `loadconfig` and read back with
`exportcosts`: the same commands an operator uses.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import yaml

REPO = Path(__file__).resolve().parents[2]
CLIENT_KEY = "aip_e2e_client_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_config(fake_url: str, *, extra_models: list[dict] | None = None) -> dict[str, Any]:
    """Three providers on one fake upstream; the models the e2e tests use."""
    return {
        "providers": [
            {"name": "oa", "kind": "openai", "base_url": f"{fake_url}/v1", "timeout_s": 5,
             "keys": [{"label": "oa-1", "secret": "sk-e2e-openai-key-1111"},
                      {"label": "oa-2", "secret": "sk-e2e-openai-key-2222"}]},
            {"name": "an", "kind": "anthropic", "base_url": fake_url, "timeout_s": 5,
             "keys": [{"label": "an-1", "secret": "sk-ant-e2e-key-3333"}]},
            {"name": "ol", "kind": "ollama", "base_url": fake_url, "timeout_s": 5},
        ],
        "models": [
            {"name": "gpt-4o-mini", "provider": "oa", "upstream_model": "gpt-4o-mini",
             "input_per_mtok": "0.15", "output_per_mtok": "0.60", "fallbacks": ["claude-3-5-haiku"]},
            {"name": "claude-3-5-haiku", "provider": "an", "upstream_model": "claude-3-5-haiku-20241022",
             "input_per_mtok": "0.80", "output_per_mtok": "4.00"},
            {"name": "llama3", "provider": "ol", "upstream_model": "llama3.1:8b",
             "input_per_mtok": "0", "output_per_mtok": "0"},
            *(extra_models or []),
        ],
        "clients": [{"name": "e2e", "key": CLIENT_KEY}],
    }  # fmt: skip


class GatewayProcess:
    def __init__(self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.config = config
        self.http_port, self.grpc_port, self.metrics_port = free_port(), free_port(), free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))},
            "HTTP_PORT": str(self.http_port),
            "PORT": str(self.grpc_port),
            "METRICS_PORT": str(self.metrics_port),
            "BIND_HOST": "127.0.0.1",
            "CATALOG_TTL_S": "0.5",
            # No scheduled provider probes (they would call the fakes that tests count): a
            # test of the schedule sets its own interval (tests/e2e/test_workers.py).
            "PROBE_INTERVAL_S": "0",
            **(env or {}),
        }
        # Only what the test asks for, not the suite's own REDIS_URL.
        if "REDIS_URL" not in (env or {}):
            self.env["REDIS_URL"] = ""
        self._pg_db: str | None = None
        self._setup_database()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"gateway-{self.http_port}.log"

    # --- database ------------------------------------------------------------------
    def _setup_database(self) -> None:
        base = self.env.get("DATABASE_URL", "")
        if base.startswith(("postgres://", "postgresql://")):
            import psycopg

            self._pg_db = f"aiproxy_e2e_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._pg_db}"')
            self.env["DATABASE_URL"] = urlunparse(urlparse(base)._replace(path=f"/{self._pg_db}"))
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{self.workdir / 'gateway.sqlite3'}"

    def drop_database(self, base_url: str) -> None:
        if self._pg_db:
            import psycopg

            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_db}" WITH (FORCE)')

    # --- commands --------------------------------------------------------------------
    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def prepare(self) -> GatewayProcess:
        self.manage("migrate", "--noinput", "-v", "0")
        path = self.workdir / f"config-{self.http_port}.yaml"
        path.write_text(yaml.safe_dump(self.config))
        self.manage("loadconfig", str(path))
        return self

    startup_s = 30.0  # until /v1/health answers (bench/instructions.py: longer, under valgrind)

    def launch_prefix(self) -> list[str]:
        """Words before the command (the benchmark pins the gateway to a core with taskset)."""
        return []

    def start(self, *serve_args: str) -> GatewayProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603
            [*self.launch_prefix(), sys.executable, "manage.py", "serve", *serve_args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/v1/health", timeout=1):  # noqa: S310
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not answer /v1/health:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- observations ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def records(self) -> list[dict[str, str]]:
        out = self.manage("exportcosts").stdout
        return list(csv.DictReader(io.StringIO(out)))

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:  # noqa: S310
            return r.read().decode()
