"""Every admin page renders for a superuser and never shows a secret."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from completions_app.models import CompletionRecord
from providers_app.models import Model, Provider, ProviderKey
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
    ("completions_app", "team"),
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
        reverse("admin:completions_app_clientkey_add"), {"name": "from-admin", "active": "on"}
    )
    assert resp.status_code == 200  # the page itself, not a redirect carrying the key anywhere
    text = resp.content.decode()
    from completions_app.models import ClientKey
    from completions_app.services.client_keys import client_key_hash

    row = ClientKey.objects.get(name="from-admin")
    shown = text.split('id="new-client-key" value="')[1].split('"')[0]
    assert row.key_hash == client_key_hash(shown)
    assert "you will not see it again" in text


def test_createclientkey_prints_the_key_once(db):
    out = StringIO()
    call_command("createclientkey", "cli-made", stdout=out)
    plaintext = out.getvalue().strip()
    from completions_app.models import ClientKey
    from completions_app.services.client_keys import client_key_hash

    assert plaintext.startswith("aip_")
    assert ClientKey.objects.get(name="cli-made").key_hash == client_key_hash(plaintext)


def _provider_form(**fields: str) -> dict[str, str]:
    # The keys inline's management form comes with every provider form.
    base = {"name": "added", "kind": "ollama", "timeout_s": "60", "enabled": "on"}
    inline = {
        "keys-TOTAL_FORMS": "0",
        "keys-INITIAL_FORMS": "0",
        "keys-MIN_NUM_FORMS": "0",
        "keys-MAX_NUM_FORMS": "1000",
    }
    return {**base, **inline, **fields}


@pytest.mark.parametrize(
    ("base_url", "error"),
    [
        ("https://user:hunter2@llm.example.com/v1", "credentials"),
        ("http://token@llm.example.com", "credentials"),
        ("ftp://llm.example.com/", "http"),
    ],
)
def test_provider_base_url_with_credentials_or_another_scheme_is_a_form_error(admin_client_logged, base_url, error):
    resp = admin_client_logged.post(reverse("admin:providers_app_provider_add"), _provider_form(base_url=base_url))
    assert resp.status_code == 200  # the form again, not a redirect
    errors = resp.context["adminform"].form.errors
    assert list(errors) == ["base_url"] and error in errors["base_url"][0]
    assert "hunter2" not in errors["base_url"][0]
    assert not Provider.objects.filter(name="added").exists()


def test_provider_with_a_plain_base_url_is_saved(admin_client_logged):
    url = "https://llm.example.com:8443/v1"
    resp = admin_client_logged.post(reverse("admin:providers_app_provider_add"), _provider_form(base_url=url))
    assert resp.status_code == 302
    assert Provider.objects.get(name="added").base_url == url


def test_model_cache_shared_is_shown_and_editable(populated, admin_client_logged):
    model = Model.objects.get(name="main-model")
    assert model.cache_shared is False
    listing = admin_client_logged.get(reverse("admin:providers_app_model_changelist")).content.decode()
    assert "response cache shared across clients" in listing.lower()
    url = reverse("admin:providers_app_model_change", args=[model.pk])
    page = admin_client_logged.get(url).content.decode()
    assert 'name="cache_shared"' in page and "learns of, another's prompt" in page  # the help text says why
    form = {
        "name": model.name,
        "provider": populated.pk,
        "upstream_model": model.upstream_model,
        "input_per_mtok": str(model.input_per_mtok),
        "output_per_mtok": str(model.output_per_mtok),
        "cache_shared": "on",
        "enabled": "on",
        "fallback_links-TOTAL_FORMS": "0",
        "fallback_links-INITIAL_FORMS": "0",
        "fallback_links-MIN_NUM_FORMS": "0",
        "fallback_links-MAX_NUM_FORMS": "1000",
    }
    assert admin_client_logged.post(url, form).status_code == 302
    model.refresh_from_db()
    assert model.cache_shared is True
