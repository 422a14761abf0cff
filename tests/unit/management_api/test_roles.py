"""Each role against each read and write endpoint, with the real permissions: admin writes;
finance (token or staff session) reads records, summaries and price history only; a client
key and nobody get 401. A management token is refused on /v1 too."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from aiproxy.asgi import application
from completions_app.models import ManagementToken
from completions_app.services.auth import auth_cache_clear
from completions_app.services.db import db_run
from completions_app.services.management_tokens import TOKEN_PREFIX, management_token_create
from tests.factories import client_create

READS = [
    "providers",
    "provider-keys",
    "models",
    "teams",
    "client-keys",
    "records",
    "costs/summary",
    "models/{big}/prices",
]
FINANCE_READS = {"records", "costs/summary", "models/{big}/prices"}


def _path(name: str, rows: dict) -> str:
    return "/api/v1/" + name.format(big=rows["big"].pk)


@pytest.mark.parametrize("name", READS)
@pytest.mark.parametrize(
    ("role", "finance_status", "other_status"),
    [
        ("admin_api", 200, 200),
        ("admin_session", 200, 200),
        ("finance_api", 200, 403),
        ("finance_session", 200, 403),
        ("client_key_api", 401, 401),
        ("anonymous_api", 401, 401),
    ],
)
def test_reads(request, rows, name, role, finance_status, other_status):
    caller = request.getfixturevalue(role)
    r = caller.get(_path(name, rows))
    expected = finance_status if name in FINANCE_READS else other_status
    assert r.status_code == expected, r.content
    if expected == 401:
        assert r["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["error"]["type"] == "authentication_error"


WRITES = [
    ("POST", "teams", {"name": "search", "rpm": 60}),
    ("POST", "providers", {"name": "an", "kind": "anthropic"}),
    ("PATCH", "models/{big}", {"input_per_mtok": "3.00"}),
    ("POST", "client-keys", {"name": "new-svc"}),
    ("DELETE", "models/{big}", None),
]


@pytest.mark.parametrize(("method", "name", "body"), WRITES, ids=[f"{m} {n}" for m, n, _ in WRITES])
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin_api", None),
        ("admin_session", None),
        ("finance_api", 403),
        ("finance_session", 403),
        ("client_key_api", 401),
        ("anonymous_api", 401),
    ],
)
def test_writes(request, rows, method, name, body, role, status):
    caller = request.getfixturevalue(role)
    r = caller.send(method, _path(name, rows), body)
    if status is None:
        assert r.status_code in (200, 201, 204), r.content
    else:
        assert r.status_code == status, r.content
        assert rows["big"].__class__.objects.filter(pk=rows["big"].pk, input_per_mtok="2.50").exists()


def test_a_session_write_without_the_csrf_token_is_refused(rows, admin_session):
    admin_session.csrf = False
    r = admin_session.post("/api/v1/teams", {"name": "search"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]


def test_a_non_staff_session_is_no_login(db, rows):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("plain", password="pw-plain-123456")  # noqa: S106
    user.groups.add(Group.objects.get(name="admin"))
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/models").status_code == 401


def test_a_revoked_or_unknown_token_is_401(db, rows):
    row, plaintext = management_token_create(name="old", role="admin")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert Client().get("/api/v1/models", headers=headers).status_code == 200
    ManagementToken.objects.filter(pk=row.pk).update(active=False)
    assert Client().get("/api/v1/models", headers=headers).status_code == 401
    junk = {"Authorization": f"Bearer {TOKEN_PREFIX}not-a-token"}
    assert Client().get("/api/v1/models", headers=junk).status_code == 401
    assert Client().get("/api/v1/models", headers={"Authorization": "Bearer"}).status_code == 401
    assert Client().get("/api/v1/models", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_token_prefix_is_not_the_client_keys(db):
    _, token = management_token_create(name="t", role="finance")
    key = client_create("k")
    assert token.startswith("aipm_") and key.startswith("aip_") and not key.startswith("aipm_")


@pytest.mark.django_db(transaction=True)
async def test_a_management_token_is_401_on_v1_and_a_client_key_works_there():
    _, token = await db_run(lambda: management_token_create(name="ops", role="admin"))
    key = await db_run(lambda: client_create("svc"))
    auth_cache_clear()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        refused = await http.get("/v1/models", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 401, refused.text
        refused = await http.get("/v1/models", headers={"x-api-key": token})
        assert refused.status_code == 401, refused.text
        assert (await http.get("/v1/models", headers={"authorization": f"Bearer {key}"})).status_code == 200
        # ...and the other way round, through the same ASGI application
        assert (await http.get("/api/v1/models", headers={"authorization": f"Bearer {key}"})).status_code == 401
        assert (await http.get("/api/v1/models", headers={"authorization": f"Bearer {token}"})).status_code == 200
