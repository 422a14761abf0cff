"""Admin pages speak in words with units: no "Input per mtok", "Timeout s", "Ttft ms"; a provider's keys fit."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from providers_app.models import Model, Provider, ProviderKey
from tests.factories import model_create, provider_create

pytestmark = pytest.mark.django_db

RAW = (
    "Input per mtok",
    "Output per mtok",
    "Timeout s",
    "Ttft ms",
    "Http status",
    "Cost usd",
    "Last probe latency ms",
    "Cache read per mtok",
    "Secret tail",
)


@pytest.fixture
def provider():
    p = provider_create("prov", "openai", "http://127.0.0.1:1/v1", keys=("sk-one-SECRET-1", "sk-two-SECRET-2"))
    model_create("main-model", p)
    ProviderKey.objects.filter(provider=p).update(healthy=False, last_probe_error="auth_error: " + "x" * 80)
    return p


def _pages(provider: Provider) -> dict[str, str]:
    model = Model.objects.get()
    key = ProviderKey.objects.first()
    return {
        "provider list": reverse("admin:providers_app_provider_changelist"),
        "provider page": reverse("admin:providers_app_provider_change", args=[provider.pk]),
        "provider add": reverse("admin:providers_app_provider_add"),
        "key list": reverse("admin:providers_app_providerkey_changelist"),
        "key page": reverse("admin:providers_app_providerkey_change", args=[key.pk]),
        "model list": reverse("admin:providers_app_model_changelist"),
        "model page": reverse("admin:providers_app_model_change", args=[model.pk]),
        "client key add": reverse("admin:completions_app_clientkey_add"),
        "team add": reverse("admin:completions_app_team_add"),
    }


def test_no_raw_field_names_on_any_admin_page(provider, admin_client):
    for name, url in _pages(provider).items():
        html = admin_client.get(url).content.decode()
        for raw in RAW:
            assert raw.lower() not in html.lower(), (name, raw)


def test_labels_say_what_and_in_which_unit(provider, admin_client):
    pages = {name: admin_client.get(url).content.decode() for name, url in _pages(provider).items()}
    assert "Timeout (s)" in pages["provider list"] and "Probe latency (ms)" in pages["provider list"]
    assert "Timeout (s):" in pages["provider page"]
    assert "Input price (USD per 1M tokens):" in pages["model page"]
    assert "Cache write price, 1-hour TTL (USD per 1M tokens):" in pages["model page"]
    assert "Input (USD per 1M tokens)" in pages["model list"]
    assert "Probe latency (ms):" in pages["key page"] and "Failed probes in a row:" in pages["key page"]
    assert "Monthly budget (USD):" in pages["client key add"] and "Requests per minute:" in pages["team add"]


def test_a_providers_keys_table_fits_its_page(provider, admin_client):
    html = admin_client.get(_pages(provider)["provider page"]).content.decode()
    table = html[html.index("<table>", html.index('id="keys-group"')) :]
    table = table[: table.index("</thead>")]
    headers = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    headers = [h for h in headers if h]
    assert len(headers) <= 8, headers
    # Health, latency and error in one cell; the long error whole on hover.
    assert 'class="probe probe-failed" title="auth_error: ' + "x" * 80 + '"' in html
    assert "sk-one-SECRET-1" not in html
