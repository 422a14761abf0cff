"""Client keys through the API, checked on the real /v1 route (the ASGI application in-process):
the key is answered once; rotation's old key works inside the overlap window and is 401 after
it; DELETE revokes at once and keeps the row (and so the records' client)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from aiproxy.asgi import application
from completions_app.models import ClientKey, CompletionRecord
from completions_app.services.auth import auth_cache_clear
from completions_app.services.db import db_run
from completions_app.services.management_tokens import management_token_create
from tests.factories import model_create, provider_create


@pytest.fixture
async def http(transactional_db):
    def setup() -> str:
        provider = provider_create("oa", "openai", "http://127.0.0.1:9/v1")
        model_create("gpt-mini", provider)
        return management_token_create(name="deploy", role="admin")[1]

    token = await db_run(setup)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"authorization": f"Bearer {token}"}
    ) as client:
        yield client


async def _v1_status(http: httpx.AsyncClient, key: str) -> int:
    return (await http.get("/v1/models", headers={"authorization": f"Bearer {key}"})).status_code


async def test_create_answers_the_key_once_and_it_works_on_v1(http):
    r = await http.post("/api/v1/client-keys", json={"name": "svc", "allowed_models": ["gpt-mini"], "rpm": 60})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    key = body["key"]
    assert key.startswith("aip_") and body["prefix"] == key[:8] and body["rpm"] == 60
    assert body["allowed_models"] == ["gpt-mini"]
    for path in ("/api/v1/client-keys", f"/api/v1/client-keys/{body['id']}"):
        read = await http.get(path)
        assert read.status_code == 200 and key not in read.text and '"key"' not in read.text
    assert await _v1_status(http, key) == 200
    stored = await db_run(lambda: ClientKey.objects.get(name="svc"))
    assert stored.key_hash != key and key not in stored.key_hash
    again = await http.post("/api/v1/client-keys", json={"name": "svc"})
    assert again.status_code == 400 and again.json()["error"]["param"] == "name"
    assert await _v1_status(http, key) == 200  # the name in use was not given a new secret


async def test_rotation_overlap_end_to_end(http):
    created = (await http.post("/api/v1/client-keys", json={"name": "svc"})).json()
    old = created["key"]
    assert await _v1_status(http, old) == 200
    r = await http.post(f"/api/v1/client-keys/{created['id']}/rotate", json={"overlap_seconds": 3600})
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert new != old and r.json()["id"] == created["id"] and r.json()["previous_key_expires_at"]
    assert await _v1_status(http, old) == 200  # inside the window: both work
    assert await _v1_status(http, new) == 200
    # The window ends (set in the database rather than waiting an hour).
    await db_run(
        lambda: ClientKey.objects.filter(pk=created["id"]).update(
            previous_key_expires_at=timezone.now() - timedelta(seconds=1)
        )
    )
    auth_cache_clear()  # what AUTH_CACHE_S (5 s) would do by itself
    assert await _v1_status(http, old) == 401
    assert await _v1_status(http, new) == 200


async def test_rotation_without_overlap_retires_the_old_key_at_once(http):
    created = (await http.post("/api/v1/client-keys", json={"name": "svc"})).json()
    assert await _v1_status(http, created["key"]) == 200  # now cached
    r = await http.post(f"/api/v1/client-keys/{created['id']}/rotate", json={})
    assert r.status_code == 200 and r.json()["previous_key_expires_at"] is None
    assert await _v1_status(http, created["key"]) == 401  # the API cleared this process's auth cache
    assert await _v1_status(http, r.json()["key"]) == 200


@pytest.mark.parametrize("overlap", [-1, 30 * 24 * 3600 + 1, "soon", None, 1.5])
async def test_overlap_out_of_bounds_is_400_and_changes_nothing(http, overlap):
    created = (await http.post("/api/v1/client-keys", json={"name": "svc"})).json()
    before = await db_run(lambda: ClientKey.objects.get(pk=created["id"]).key_hash)
    r = await http.post(f"/api/v1/client-keys/{created['id']}/rotate", json={"overlap_seconds": overlap})
    assert r.status_code == 400 and r.json()["error"]["param"] == "overlap_seconds", r.text
    assert await db_run(lambda: ClientKey.objects.get(pk=created["id"]).key_hash) == before
    assert await _v1_status(http, created["key"]) == 200


async def test_delete_revokes_and_keeps_the_row_and_its_records(http):
    created = (await http.post("/api/v1/client-keys", json={"name": "svc"})).json()
    assert await _v1_status(http, created["key"]) == 200
    record_id = await db_run(
        lambda: CompletionRecord.objects.create(
            created_at=timezone.now(), request_id="r1", client_id=created["id"], client_name="svc", model="m",
            status="ok",
        ).pk
    )  # fmt: skip
    r = await http.delete(f"/api/v1/client-keys/{created['id']}")
    assert r.status_code == 204
    assert await _v1_status(http, created["key"]) == 401  # at once: no wait for the auth cache
    row = await db_run(lambda: ClientKey.objects.get(pk=created["id"]))
    assert row.active is False
    assert await db_run(lambda: CompletionRecord.objects.get(pk=record_id).client_id) == row.pk
    listed = (await http.get(f"/api/v1/client-keys/{created['id']}")).json()
    assert listed["active"] is False
    refused = await http.post(f"/api/v1/client-keys/{created['id']}/rotate", json={})
    assert refused.status_code == 400
