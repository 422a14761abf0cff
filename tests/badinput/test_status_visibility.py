"""/v1/providers/status and gRPC GetProviderStatus show a key restricted to some models only
the providers behind those models and their fallbacks (issue 14, item 7): not every provider
name and key label of the gateway. An unrestricted key sees all. In-process, through the
served ASGI application (gRPC: tests/e2e/test_grpc_status_visibility.py)."""

from __future__ import annotations

import httpx
import pytest

from aiproxy.asgi import application
from completions_app.services.db import db_run
from providers_app.models import Provider
from tests.factories import client_create, model_create, provider_create

pytestmark = pytest.mark.django_db(transaction=True)


def _rows() -> dict[str, str]:
    alpha = provider_create("alpha", Provider.Kind.OPENAI, "http://127.0.0.1:9", keys=("sk-alpha-0001",))
    beta = provider_create("beta", Provider.Kind.OPENAI, "http://127.0.0.1:9", keys=("sk-beta-0001",))
    gamma = provider_create("gamma-secret", Provider.Kind.OPENAI, "http://127.0.0.1:9", keys=("sk-gamma-0001",))
    backup = model_create("backup", beta)
    model_create("main", alpha, fallbacks=(backup,))
    model_create("other", gamma)
    return {
        "main": client_create("main-only", ("main",)),
        "other": client_create("other-only", ("other",)),
        "all": client_create("everything"),
    }


async def _names(client: httpx.AsyncClient, key: str) -> list[str]:
    r = await client.get("/v1/providers/status", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["providers"]]


async def test_a_restricted_key_sees_only_its_providers_and_their_fallbacks():
    keys = await db_run(_rows)
    transport = httpx.ASGITransport(app=application, client=("198.51.100.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert await _names(client, keys["main"]) == ["alpha", "beta"]  # beta: main's fallback
        assert await _names(client, keys["other"]) == ["gamma-secret"]
        assert await _names(client, keys["all"]) == ["alpha", "beta", "gamma-secret"]
        r = await client.get("/v1/providers/status", headers={"authorization": f"Bearer {keys['main']}"})
        assert "gamma" not in r.text  # neither the provider nor its key labels
