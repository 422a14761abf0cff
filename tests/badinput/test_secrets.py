"""After a run full of errors, no provider secret and no client key appears in
plaintext in the gateway's log, its error bodies, /metrics or the database."""

from __future__ import annotations

import sqlite3
import subprocess
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.gateway_process import CLIENT_KEY
from tests.fakes.behaviour import Behaviour
from tests.resilience.helpers import AUTH, resilience_config

PROVIDER_SECRETS = ["sk-e2e-openai-key-1111", "sk-e2e-openai-key-2222", "sk-ant-e2e-key-3333", "sk-e2e-hasty-key-4444"]


@pytest.fixture(scope="module")
def noisy_gateway(launch):
    # DEBUG logging: the most the gateway (and its SDKs) will ever write.
    return launch({"LOG_LEVEL": "DEBUG", "CIRCUIT_BREAKER_MAX_REQUESTS": "2"})


def _database_dump(gw) -> str:
    url = gw.env["DATABASE_URL"]
    if url.startswith(("postgres://", "postgresql://")):
        return subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True, check=True).stdout
    conn = sqlite3.connect(urlparse(url).path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def test_no_secret_in_logs_errors_metrics_or_database(noisy_gateway, fake_upstream):
    gw, fake = noisy_gateway, fake_upstream
    fake.reset()
    assert resilience_config(fake.url)["clients"][0]["key"] == CLIENT_KEY
    bodies: list[str] = []

    def call(body: dict, **headers: str) -> None:
        r = httpx.post(f"{gw.url}/v1/complete", json=body, headers={**AUTH, **headers}, timeout=20)
        bodies.append(f"{r.status_code} {dict(r.headers)} {r.text}")

    # Upstreams that echo the key back, as real providers do in 401 messages.
    for secret in PROVIDER_SECRETS[:2]:
        fake.script(Behaviour.error(401, message=f"Incorrect API key provided: {secret}", path="/v1/chat"))
    fake.script(Behaviour.error(500, message=f"internal: key={PROVIDER_SECRETS[2]}", path="/v1/messages", times=3))
    for _ in range(3):
        call({"model": "gpt-4o-mini", "prompt": "leak please", "temperature": 0.5})
    fake.script(Behaviour.rate_limited("1", message=PROVIDER_SECRETS[0], path="/v1/chat", times=2))
    call({"model": "gpt-solo", "prompt": "limited", "temperature": 0.5})
    fake.script(Behaviour.disconnect(after_frames=2, path="/v1/chat"))
    call({"model": "gpt-solo", "prompt": "cut me off now please", "stream": True})
    fake.script(Behaviour.malformed(path="/v1/chat"))
    call({"model": "gpt-solo", "prompt": "garbled"})
    call({"model": "gpt-4o-mini", "prompt": "x", "base_url": "http://evil"})
    call({"model": "no-such-model", "prompt": CLIENT_KEY})
    for bad in (CLIENT_KEY[:-1], CLIENT_KEY + "x", PROVIDER_SECRETS[0]):
        call({"model": "gpt-4o-mini", "prompt": "x"}, authorization=f"Bearer {bad}")
    call({"model": "gpt-4o-mini", "prompt": "ok"})
    bodies.append(httpx.get(f"{gw.url}/v1/providers/status", headers=AUTH).text)
    assert fake.stats()["requests"] >= 6  # the faults above did reach the upstream

    gw.stop()  # flushes records and closes the log
    places = {"log": gw.log(), "responses": "\n".join(bodies), "database": _database_dump(gw)}
    gw.start()
    places["metrics"] = gw.metrics()
    for secret in [*PROVIDER_SECRETS, CLIENT_KEY]:
        # The prompt that carried the client key is the client's own text: not a leak
        # if echoed back to it, but it must not be stored or logged.
        for where, text in places.items():
            assert secret not in text, f"{secret[:10]}… found in the {where}"
