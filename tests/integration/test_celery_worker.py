"""A real `celery -A aiproxy worker` on the real Redis broker runs both tasks end to end.

The worker is a subprocess, so it cannot see pytest-django's test database: it gets its
own (a SQLite file, or a fresh PostgreSQL database when DATABASE_URL is PostgreSQL),
migrated and loaded with the operator's commands by tests.e2e.gateway_process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from celery import Celery
from celery.result import AsyncResult

from tests.e2e.gateway_process import REPO, GatewayProcess, fake_config, free_port
from tests.fakes.behaviour import Behaviour
from tests.fakes.process import FakeUpstreamProcess

pytestmark = pytest.mark.redis

BROKER_URL = os.environ.get("AIPROXY_TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
BAD_SECRET = "sk-it-bad-probe-SECRET-4444"

SEED = """
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from completions_app.models import CompletionRecord
now = timezone.now()
for i in range(N):
    CompletionRecord.objects.create(
        created_at=now - timedelta(minutes=OFFSET + 45 * i), request_id=f"{PREFIX}-{i}",
        client_name=("a", "b")[i % 2], model=("m1", "m2", "m3")[i % 3], provider="oa",
        status=("ok", "ok", "error", "cache_hit")[i % 4], cached=i % 4 == 3,
        input_tokens=i * 11, output_tokens=i * 7,
        cost_usd=Decimal(f"0.{(i * 982451653 + 17) % 10**12:012d}"),
        cost_saved_usd=Decimal(f"0.{(i * 15485863) % 10**12:012d}") if i % 4 == 3 else Decimal(0),
    )
"""

STATE = """
import json
from decimal import Decimal
from completions_app.models import CompletionRecord, CostRollup
from providers_app.models import Provider, ProviderKey
def total(qs, field):
    return str(sum((getattr(r, field) for r in qs), Decimal(0)))
records = CompletionRecord.objects.all()
out = {"records": records.count(), "records_cost": total(records, "cost_usd"),
       "records_saved": total(records, "cost_saved_usd"), "errors": records.filter(status="error").count()}
for period in ("hour", "day"):
    rows = CostRollup.objects.filter(period=period)
    out[period] = {"requests": sum(r.requests for r in rows), "errors": sum(r.errors for r in rows),
                   "cost": total(rows, "cost_usd"), "saved": total(rows, "cost_saved_usd"), "rows": rows.count()}
out["keys"] = {f"{k.provider.name}/{k.label}": {"healthy": k.healthy, "latency": k.last_probe_latency_ms,
               "error": k.last_probe_error, "enabled": k.enabled}
               for k in ProviderKey.objects.select_related("provider").defer("secret")}
out["providers"] = {p.name: {"healthy": p.healthy, "latency": p.last_probe_latency_ms} for p in Provider.objects.all()}
print("STATE " + json.dumps(out))
"""


class CeleryWorker:
    """`celery -A aiproxy worker` on its own queue, so no other worker on the broker takes our tasks."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.queue = f"aiproxy-test-{uuid.uuid4().hex[:8]}"
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> CeleryWorker:
        args = [sys.executable, "-m", "celery", "-A", "aiproxy", "worker", "--pool=solo", "-Q", self.queue,
                "-n", f"{self.queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task in hand
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, result: AsyncResult, timeout: float = 90) -> object:
        deadline = time.monotonic() + timeout
        while not result.ready():
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"celery worker exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"task {result.id} not done after {timeout} s; worker log:\n{self.log()}")
            time.sleep(0.1)
        value = result.get(timeout=5)  # re-raises a task failure
        result.forget()
        return value


@pytest.fixture
def fakes():
    with FakeUpstreamProcess() as good, FakeUpstreamProcess() as bad:
        bad.script(Behaviour.error(401, path="/v1/models", times=-1, message=f"Incorrect API key: {BAD_SECRET}"))
        yield good, bad


@pytest.fixture
def stack(tmp_path, fakes):
    good, bad = fakes
    config = fake_config(good.url)
    config["providers"] += [
        {"name": "bad", "kind": "openai", "base_url": f"{bad.url}/v1", "timeout_s": 5,
         "keys": [{"label": "bad-1", "secret": BAD_SECRET}]},
        {"name": "dead", "kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1", "timeout_s": 2,
         "keys": [{"label": "dead-1", "secret": "sk-it-dead-key-5555"}]},
    ]  # fmt: skip
    env = {
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_RESULT_BACKEND": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PROBE_DISABLE_AFTER": "1",
    }
    gw = GatewayProcess(tmp_path, config, env=env).prepare()  # its database and config; not served
    worker = CeleryWorker(gw.env, tmp_path / "worker.log").start()
    client = Celery("aiproxy-test-client", broker=BROKER_URL, backend=BROKER_URL)
    yield gw, worker, client
    worker.stop()
    client.close()
    gw.drop_database(os.environ.get("DATABASE_URL", ""))


def _state(gw: GatewayProcess) -> dict:
    out = gw.manage("shell", "-c", STATE).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("STATE "))
    return json.loads(line[len("STATE ") :])


def _seed(gw: GatewayProcess, *, n: int, offset_min: int, prefix: str) -> None:
    gw.manage(
        "shell", "-c", SEED.replace("N)", f"{n})").replace("OFFSET", str(offset_min)).replace("PREFIX", repr(prefix))
    )


def test_worker_runs_rollup_and_probe_tasks(stack):
    gw, worker, client = stack
    _seed(gw, n=60, offset_min=5, prefix="it")  # spread over the last 45 hours

    send = client.send_task
    result = worker.wait(send("completions_app.tasks.rollup_costs", queue=worker.queue))
    assert result["days"] >= 2
    state = _state(gw)
    assert state["records"] == 60
    for period in ("hour", "day"):
        assert state[period]["requests"] == 60
        assert state[period]["errors"] == state["errors"]
        assert Decimal(state[period]["cost"]) == Decimal(state["records_cost"])
        assert Decimal(state[period]["saved"]) == Decimal(state["records_saved"])

    # A late record for an hour already rolled up, then a second run: picked up, nothing doubled.
    _seed(gw, n=1, offset_min=60, prefix="late")
    worker.wait(send("completions_app.tasks.rollup_costs", queue=worker.queue))
    worker.wait(send("completions_app.tasks.rollup_costs", queue=worker.queue))
    state = _state(gw)
    assert state["records"] == 61
    assert state["day"]["requests"] == state["hour"]["requests"] == 61
    assert Decimal(state["day"]["cost"]) == Decimal(state["records_cost"])

    summary = worker.wait(send("providers_app.tasks.probe_providers", queue=worker.queue))
    assert sorted(summary["failed"]) == ["bad/bad-1", "dead/dead-1"]
    assert sorted(summary["disabled"]) == ["bad/bad-1", "dead/dead-1"]
    state = _state(gw)
    keys, providers = state["keys"], state["providers"]
    for name in ("oa/oa-1", "oa/oa-2", "an/an-1"):
        assert keys[name]["healthy"] is True, keys[name]
        assert keys[name]["latency"] > 0
    assert providers["ol"]["healthy"] is True  # keyless ollama
    assert keys["bad/bad-1"]["healthy"] is False
    assert keys["bad/bad-1"]["error"].startswith("upstream_auth_error:")
    assert keys["bad/bad-1"]["enabled"] is False  # PROBE_DISABLE_AFTER=1
    assert keys["dead/dead-1"]["error"].startswith("upstream_connection_error:")
    assert providers["bad"]["healthy"] is False
    assert providers["oa"]["healthy"] is True
    assert BAD_SECRET not in worker.log()
