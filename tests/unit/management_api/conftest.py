"""Callers of the management API, one per role: an admin token, a finance token, a finance
staff user's session (CSRF enforced), a client key, nobody. Rows to read: a provider with a
key, two models, a team, a client key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from completions_app.services.management_tokens import management_token_create
from tests.factories import client_create, model_create, provider_create

PROVIDER_SECRET = "sk-provider-secret-AAAA-1111"


@dataclass
class Caller:
    """A django.test.Client that sends JSON and, for sessions, the CSRF token."""

    client: Client
    headers: dict[str, str] = field(default_factory=dict)
    csrf: bool = False

    def _headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.csrf:
            self.client.get("/admin/")  # its logout form sets the csrftoken cookie
            headers["X-CSRFToken"] = self.client.cookies["csrftoken"].value
        return headers

    def get(self, path: str, params: dict | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self.headers)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        call = getattr(self.client, method.lower())
        return call(path, data, content_type="application/json", headers=self._headers())

    def post(self, path: str, body: Any = None) -> Any:
        return self.send("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.send("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.send("DELETE", path)


def token_caller(name: str, role: str) -> Caller:
    _, plaintext = management_token_create(name=name, role=role)
    return Caller(Client(), {"Authorization": f"Bearer {plaintext}"})


@pytest.fixture
def rows(db):
    provider = provider_create("oa", "openai", "http://127.0.0.1:9/v1", keys=(PROVIDER_SECRET,))
    big = model_create("gpt-big", provider, input_price="2.50", output_price="10.00")
    small = model_create("gpt-mini", provider, input_price="0.15", output_price="0.60")
    client_create("svc")
    return {"provider": provider, "big": big, "small": small}


@pytest.fixture
def admin_api(db) -> Caller:
    return token_caller("deploy-bot", "admin")


@pytest.fixture
def finance_api(db) -> Caller:
    return token_caller("bi-tool", "finance")


@pytest.fixture
def finance_session(db) -> Caller:
    user = User.objects.create_user("fiona", password="pw-finance-123456", is_staff=True)  # noqa: S106
    user.groups.add(Group.objects.get(name="finance"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return Caller(client, csrf=True)


@pytest.fixture
def admin_session(db) -> Caller:
    user = User.objects.create_user("ada", password="pw-admin-123456", is_staff=True)  # noqa: S106
    user.groups.add(Group.objects.get(name="admin"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return Caller(client, csrf=True)


@pytest.fixture
def client_key_api(db) -> Caller:
    return Caller(Client(), {"Authorization": f"Bearer {client_create('caller')}"})


@pytest.fixture
def anonymous_api() -> Caller:
    return Caller(Client())
