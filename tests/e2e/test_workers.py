"""`serve --workers N`: N processes share the ports; one exporter aggregates their metrics;
SIGTERM stops them all cleanly."""

import os
import re
import signal

import httpx

from .gateway_process import CLIENT_KEY, GatewayProcess, fake_config


def _total(metrics: str, name: str, labels: str) -> float:
    m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", metrics, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_two_workers_share_ports_and_aggregate_metrics(fake_upstream, tmp_path):
    gw = GatewayProcess(tmp_path, fake_config(fake_upstream.url), env={"REDIS_URL": ""}).prepare()
    gw.start("--workers", "2")
    try:
        n = 40
        with httpx.Client(headers={"authorization": f"Bearer {CLIENT_KEY}"}) as client:
            for i in range(n):
                # A new connection per request, so the kernel spreads them over both workers.
                r = client.post(
                    f"{gw.url}/v1/complete",
                    json={"model": "llama3", "prompt": f"n {i}"},
                    headers={"connection": "close"},
                )
                assert r.status_code == 200
            for _ in range(4):  # Django's pages: counted by django-prometheus, in every worker
                assert client.get(f"{gw.url}/admin/login/", headers={"connection": "close"}).status_code == 200
        text = gw.metrics()
        assert _total(text, "ai_proxy_requests_total", 'model="llama3",provider="ol",status="ok"') == n
        login = 'method="GET",status="200",view="admin:login"'
        assert _total(text, "django_http_responses_total_by_status_view_method_total", login) == 4
        by_method = "django_http_requests_total_by_method_total"
        assert _total(text, by_method, 'method="GET"') == 4
        assert _total(text, by_method, 'method="POST"') == 0  # the /v1 POSTs: not served by Django
        children = [p for p in os.listdir("/proc") if p.isdigit() and _is_child(int(p), gw.proc.pid)]
        assert len(children) == 2
    finally:
        code = gw.stop(signal.SIGTERM)
    assert code == 0, gw.log()
    assert len(gw.records()) == n


def _is_child(pid: int, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False


def test_scheduled_probes_run_in_one_worker_only(fake_upstream, tmp_path):
    """PROBE_INTERVAL_S in serve (no Celery beat): probes happen, planned by worker 0 alone."""
    import time

    fake_upstream.reset()
    env = {"REDIS_URL": "", "PROBE_INTERVAL_S": "1", "LOG_LEVEL": "INFO"}
    gw = GatewayProcess(tmp_path, fake_config(fake_upstream.url), env=env).prepare()
    gw.start("--workers", "2")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probed = [r for r in fake_upstream.requests() if r.get("path") in ("/v1/models", "/api/tags")]
            if len(probed) >= 8:  # two rounds of the four keys (oa x2, an, keyless ol)
                break
            time.sleep(0.2)
        assert len(probed) >= 8, gw.log()
    finally:
        code = gw.stop(signal.SIGTERM)
    assert code == 0, gw.log()
    assert len(re.findall(r"provider probes every 1s in this process", gw.log())) == 1, gw.log()
