"""/api/docs/ loads Swagger UI from the project's own static files (drf-spectacular-sidecar),
never a CDN, and the document at /api/schema/ describes the /api/v1 operations."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from django.test import Client

from aiproxy.asgi import application

OPERATIONS = {
    ("/api/v1/providers", "get"), ("/api/v1/providers", "post"), ("/api/v1/provider-keys/{id}", "patch"),
    ("/api/v1/models/{id}/prices", "get"), ("/api/v1/client-keys", "post"), ("/api/v1/client-keys/{id}", "delete"),
    ("/api/v1/client-keys/{id}/rotate", "post"), ("/api/v1/records", "get"), ("/api/v1/costs/summary", "get"),
    ("/api/v1/teams/{id}", "put"),
}  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_swagger_ui_assets_come_from_the_project():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as http:
        page = await http.get("/api/docs/")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page.text)
        assert assets and all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
        assert "cdn" not in page.text.lower() and "jsdelivr" not in page.text
        for asset in assets:
            r = await http.get(asset)
            assert r.status_code == 200 and len(r.content) > 100, asset


def test_the_schema_documents_the_management_api(db):
    document = json.loads(Client().get("/api/schema/", {"format": "json"}).content)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented >= OPERATIONS
    assert document["components"]["securitySchemes"]["ManagementToken"]["scheme"] == "bearer"
    summary = document["paths"]["/api/v1/costs/summary"]["get"]
    assert {p["name"] for p in summary["parameters"]} >= {"group_by", "since", "until", "client", "team", "cached"}
    records = document["paths"]["/api/v1/records"]["get"]["responses"]["200"]["content"]
    assert set(records) == {"application/json", "text/csv"}
    key = document["components"]["schemas"]["ProviderKeyRequest"]["properties"]
    assert "secret" in key and "secret" not in document["components"]["schemas"]["ProviderKey"]["properties"]
