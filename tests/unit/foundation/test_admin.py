"""Every admin page renders for a superuser and never shows a secret."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from completions_app.models import CompletionRecord
from providers_app.models import ProviderKey
from tests.factories import client_create, model_create, provider_create

SECRET = "sk-admin-test-SECRET-9876"


@pytest.fixture
def populated(db):
    p = provider_create("prov", "openai", "http://127.0.0.1:1/v1", keys=(SECRET,))
    fb = model_create("fallback-model", p)
    model_create("main-model", p, fallbacks=(fb,))
    client_create("client-a")
    CompletionRecord.objects.create(
        created_at=timezone.now(), request_id="r1", client_name="client-a", model="main-model", status="ok"
    )
    return p


@pytest.fixture
def admin_client_logged(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(user)
    return client


PAGES = [
    ("providers_app", "provider"),
    ("providers_app", "providerkey"),
    ("providers_app", "model"),
    ("completions_app", "clientkey"),
    ("completions_app", "completionrecord"),
    ("completions_app", "costrollup"),
]


@pytest.mark.parametrize(("app", "model"), PAGES)
def test_changelist_and_add_pages_render_without_secret(populated, admin_client_logged, app, model):
    resp = admin_client_logged.get(reverse(f"admin:{app}_{model}_changelist"))
    assert resp.status_code == 200
    assert SECRET not in resp.content.decode()
    add = admin_client_logged.get(reverse(f"admin:{app}_{model}_add"))
    # Audit records and roll-ups are read-only: no add page.
    assert add.status_code == (403 if model in ("completionrecord", "costrollup") else 200)


def test_change_pages_render_without_secret(populated, admin_client_logged):
    key = ProviderKey.objects.get()
    for url in (
        reverse("admin:providers_app_providerkey_change", args=[key.pk]),
        reverse("admin:providers_app_provider_change", args=[populated.pk]),
        reverse("admin:index"),
    ):
        resp = admin_client_logged.get(url)
        assert resp.status_code == 200
        body = resp.content.decode()
        assert SECRET not in body
        assert "9876" in body or url.endswith("/admin/")  # the masked tail is shown
    record = CompletionRecord.objects.get()
    resp = admin_client_logged.get(reverse("admin:completions_app_completionrecord_change", args=[record.pk]))
    assert resp.status_code == 200  # viewable
    resp = admin_client_logged.post(
        reverse("admin:completions_app_completionrecord_delete", args=[record.pk]), {"post": "yes"}
    )
    assert resp.status_code == 403
    assert CompletionRecord.objects.filter(pk=record.pk).exists()


def test_secret_can_be_replaced_never_read(populated, admin_client_logged):
    key = ProviderKey.objects.get()
    url = reverse("admin:providers_app_providerkey_change", args=[key.pk])
    resp = admin_client_logged.post(
        url,
        {
            "provider": populated.pk,
            "label": key.label,
            "new_secret": "sk-new-secret-5555",
            "weight": 1,
            "enabled": "on",
        },
    )
    assert resp.status_code == 302
    key.refresh_from_db()
    assert key.secret == "sk-new-secret-5555" and key.secret_tail == "…5555"
    # Leaving the field empty keeps the secret.
    admin_client_logged.post(
        url, {"provider": populated.pk, "label": key.label, "new_secret": "", "weight": 2, "enabled": "on"}
    )
    key.refresh_from_db()
    assert key.secret == "sk-new-secret-5555" and key.weight == 2
    assert "sk-new-secret-5555" not in admin_client_logged.get(url).content.decode()


def test_admin_created_client_key_is_shown_once_and_stored_hashed(db, admin_client_logged):
    resp = admin_client_logged.post(
        reverse("admin:completions_app_clientkey_add"), {"name": "from-admin", "active": "on"}, follow=True
    )
    assert resp.status_code == 200
    text = resp.content.decode()
    assert "aip_" in text
    from completions_app.models import ClientKey

    row = ClientKey.objects.get(name="from-admin")
    shown = text.split("not shown again): ")[1].split("<")[0].strip()
    from completions_app.services.client_keys import client_key_hash

    assert row.key_hash == client_key_hash(shown)


def test_createclientkey_prints_the_key_once(db):
    out = StringIO()
    call_command("createclientkey", "cli-made", stdout=out)
    plaintext = out.getvalue().strip()
    from completions_app.models import ClientKey
    from completions_app.services.client_keys import client_key_hash

    assert plaintext.startswith("aip_")
    assert ClientKey.objects.get(name="cli-made").key_hash == client_key_hash(plaintext)
