"""Small helpers shared by the resilience tests: config, requests, waiting for records."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.gateway_process import CLIENT_KEY, GatewayProcess, fake_config

from .launcher import db_records

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
OA_SECRETS = ("sk-e2e-openai-key-1111", "sk-e2e-openai-key-2222")

# gpt-solo: the two-key OpenAI provider with no fallback, so its failures reach
# the client and breaker/key behaviour is visible in status codes. "hasty" is a
# one-key OpenAI provider with a 1 s timeout, for the hanging-upstream tests.
EXTRA_MODELS = [
    {"name": "gpt-solo", "provider": "oa", "upstream_model": "gpt-4o-mini",
     "input_per_mtok": "0.15", "output_per_mtok": "0.60"},
    {"name": "gpt-hasty", "provider": "hasty", "upstream_model": "gpt-4o-mini",
     "input_per_mtok": "0.15", "output_per_mtok": "0.60", "fallbacks": ["claude-3-5-haiku"]},
    {"name": "gpt-hasty-solo", "provider": "hasty", "upstream_model": "gpt-4o-mini",
     "input_per_mtok": "0.15", "output_per_mtok": "0.60"},
]  # fmt: skip


def resilience_config(fake_url: str) -> dict[str, Any]:
    config = fake_config(fake_url, extra_models=EXTRA_MODELS)
    config["providers"].append(
        {
            "name": "hasty",
            "kind": "openai",
            "base_url": f"{fake_url}/v1",
            "timeout_s": 1,
            "keys": [{"label": "hasty-1", "secret": "sk-e2e-hasty-key-4444"}],
        }  # fmt: skip
    )
    return config


def complete(gw: GatewayProcess, body: dict[str, Any], *, timeout: float = 20, **headers: str) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/complete", headers={**AUTH, **headers}, json=body, timeout=timeout)


def key_of(request: dict[str, Any]) -> str:
    """Which provider secret an upstream request carried (the fake records headers)."""
    auth = request["headers"].get("authorization", "")
    return next((s for s in OA_SECRETS if auth.endswith(s)), auth)


def wait_records(gw: GatewayProcess, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Records are written in batches off the request path: poll until `n` exist."""
    deadline = time.monotonic() + timeout
    rows = db_records(gw)
    while len(rows) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = db_records(gw)
    return rows


def limits_config(
    fake_url: str,
    *,
    clients: list[dict[str, Any]],
    teams: list[dict[str, Any]] | None = None,
    models: list[dict[str, Any]] | None = None,
    providers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """resilience_config plus client keys with `team:` / `limits:`, the `teams:` they name,
    and models / providers of the caller's own (the YAML of issue 15, as loadconfig reads it)."""
    config = resilience_config(fake_url)
    config["providers"].extend(providers or [])
    config["models"].extend(models or [])
    config["clients"].extend(clients)
    if teams:
        config["teams"] = teams
    return config
