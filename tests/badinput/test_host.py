"""A forged Host header. In development (DEBUG on, ALLOWED_HOSTS=*) every Host
is accepted by design; in production (DEBUG=0, real secrets, ALLOWED_HOSTS set)
a Host outside the list must get a 400 on every route, the API included."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.resilience.helpers import AUTH

FORGED = {"host": "evil.example"}


@pytest.fixture(scope="module")
def prod_gateway(launch):
    return launch({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(48),
                   "FIELD_ENCRYPTION_KEY": secrets.token_urlsafe(48), "ALLOWED_HOSTS": "127.0.0.1"})  # fmt: skip


def test_development_accepts_any_host(gateway):
    assert httpx.get(f"{gateway.url}/v1/health", headers=FORGED).status_code == 200


def test_production_serves_its_own_host(prod_gateway, fake):
    r = httpx.post(f"{prod_gateway.url}/v1/complete", headers=AUTH, json={"model": "gpt-4o-mini", "prompt": "hi"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/admin/login/", "/api/schema/"])
def test_production_refuses_a_forged_host_on_the_site(prod_gateway, path):
    assert httpx.get(f"{prod_gateway.url}{path}", headers=FORGED).status_code == 400


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/health"), ("POST", "/v1/complete")])
def test_production_refuses_a_forged_host_on_the_api(prod_gateway, fake, method, path):
    r = httpx.request(method, f"{prod_gateway.url}{path}", headers={**AUTH, **FORGED},
                      json={"model": "gpt-4o-mini", "prompt": "hi"} if method == "POST" else None)  # fmt: skip
    assert r.status_code == 400, r.text
    assert fake.requests() == []


@pytest.mark.parametrize("path", ["/no-such-page/", "/admin/no-such-page", "/api/nothing"])
def test_production_404_reveals_no_url_patterns(prod_gateway, path):
    r = httpx.get(f"{prod_gateway.url}{path}")
    assert r.status_code in (302, 404), r.text  # /admin/… sends an anonymous user to the login first
    if r.status_code == 404:
        assert "URLconf" not in r.text
        assert "admin/" not in r.text
        assert "api/schema" not in r.text
        assert "DEBUG" not in r.text
