"""A provider key's secret goes in and never comes out: not in create, list, retrieve or
update answers, not in the audit history; reads show its tail, weight, enabled and health."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.contrib.admin.models import LogEntry

from providers_app.models import ProviderKey

from .conftest import PROVIDER_SECRET

NEW_SECRET = "sk-brand-new-secret-ZZZZ-9876"


def _no_secret(response, *secrets: str) -> None:
    text = response.content.decode()
    for secret in secrets:
        assert secret not in text
        assert secret[-8:] not in text  # not even a longer tail than the mask's four characters


def test_secret_is_write_only_everywhere(rows, admin_api):
    r = admin_api.post("/api/v1/provider-keys", {"provider": "oa", "label": "k2", "secret": NEW_SECRET, "weight": 3})
    assert r.status_code == 201, r.content
    body = r.json()
    assert "secret" not in body and body["secret_tail"] == "…" + NEW_SECRET[-4:] and body["weight"] == 3
    assert {"healthy", "last_probe_at", "enabled", "label", "consecutive_probe_failures"} <= set(body)
    _no_secret(r, NEW_SECRET)
    key_id = body["id"]
    assert ProviderKey.objects.get(pk=key_id).secret == NEW_SECRET  # stored (encrypted), usable
    listing = admin_api.get("/api/v1/provider-keys")
    assert listing.status_code == 200 and len(listing.json()["results"]) == 2
    _no_secret(listing, NEW_SECRET, PROVIDER_SECRET)
    _no_secret(admin_api.get(f"/api/v1/provider-keys/{key_id}"), NEW_SECRET)
    rotated = admin_api.patch(f"/api/v1/provider-keys/{key_id}", {"secret": "sk-rotated-secret-YYYY-5555"})
    assert rotated.status_code == 200 and rotated.json()["secret_tail"] == "…5555"
    _no_secret(rotated, "sk-rotated-secret-YYYY-5555", NEW_SECRET)
    kept = admin_api.patch(f"/api/v1/provider-keys/{key_id}", {"enabled": False})
    assert kept.status_code == 200 and ProviderKey.objects.get(pk=key_id).secret == "sk-rotated-secret-YYYY-5555"
    history = " ".join(e.change_message for e in LogEntry.objects.all())
    assert "secret" in history and "sk-" not in history
    assert all(s not in json.dumps(list(LogEntry.objects.values()), default=str) for s in (NEW_SECRET, PROVIDER_SECRET))


def test_create_without_secret_or_with_a_label_in_use_is_400_naming_the_field(rows, admin_api):
    r = admin_api.post("/api/v1/provider-keys", {"provider": "oa", "label": "k2"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "secret"
    r = admin_api.post("/api/v1/provider-keys", {"provider": "oa", "label": "key1", "secret": NEW_SECRET})
    assert r.status_code == 400 and "non_field_errors" in r.json()["error"]["fields"], r.content
    r = admin_api.post("/api/v1/provider-keys", {"provider": "nope", "label": "k3", "secret": NEW_SECRET, "weight": 0})
    assert r.status_code == 400 and set(r.json()["error"]["fields"]) == {"provider", "weight"}
    assert ProviderKey.objects.count() == 1
    _no_secret(r, NEW_SECRET)


def test_a_provider_serving_models_cannot_be_deleted(rows, admin_api):
    r = admin_api.delete(f"/api/v1/providers/{rows['provider'].pk}")
    assert r.status_code == 409 and "gpt-big" in r.json()["error"]["message"]
    assert not LogEntry.objects.exists()  # nothing half-written: the audit entry went with the transaction


def test_a_cooling_key_shows_when_its_cooldown_ends(rows, admin_api):
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from completions_app.services.catalog import KeyEntry
    from completions_app.services.gateway_state import gateway_state

    key = ProviderKey.objects.get()
    assert admin_api.get(f"/api/v1/provider-keys/{key.pk}").json()["cooling_until"] is None
    entry = KeyEntry(id=key.pk, label=key.label, secret="unused", weight=1)
    async_to_sync(gateway_state().keyring.cooldown)(entry, 120)
    shown = admin_api.get(f"/api/v1/provider-keys/{key.pk}").json()["cooling_until"]
    ends = datetime.fromisoformat(shown.replace("Z", "+00:00"))
    assert timezone.now() + timedelta(seconds=100) < ends <= timezone.now() + timedelta(seconds=121)
    listing = admin_api.get("/api/v1/provider-keys").json()["results"]
    assert [k["cooling_until"] for k in listing] == [shown]
